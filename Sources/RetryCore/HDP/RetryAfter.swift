#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Parses HTTP `Retry-After` (RFC 9110 §10.2.3): delta-seconds, or an HTTP date in any of the
/// three formats a recipient must accept (§5.6.7).
///
/// | value                              | now                  | result      |
/// |------------------------------------|----------------------|-------------|
/// | `120`                              | any                  | 120 s       |
/// | `-5` (not valid, but seen)         | any                  | 0 s         |
/// | `Sun, 06 Nov 1994 08:51:37 GMT`    | 1994-11-06 08:49:37Z | 120 s       |
/// | `Sunday, 06-Nov-94 08:51:37 GMT`   | 1994-11-06 08:49:37Z | 120 s       |
/// | `Sun Nov  6 08:51:37 1994`         | 1994-11-06 08:49:37Z | 120 s       |
/// | a date in the past                 |                      | 0 s         |
/// | `soon`, `1.5`, empty               |                      | `nil`       |
///
/// Results are clamped to ``maximum`` so that a silly value cannot overflow the caller's clock
/// arithmetic; the agent caps it further with `dispatch.retry_after_cap`.
public enum RetryAfter {
    /// The largest wait returned: 366 days.
    public static let maximum = Duration.seconds(366 * 86_400)

    private static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let longWeekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The wait `value` asks for, measured from `now`; `nil` when `value` is neither form.
    public static func parse(_ value: String, now: Date) -> Duration? {
        var trimmed = Substring(value)
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        let text = String(trimmed)
        if let seconds = deltaSeconds(text) { return seconds }
        guard let epoch = httpDate(text, now: now) else { return nil }
        let milliseconds = ((Double(epoch) - now.timeIntervalSince1970) * 1000).rounded(.up)
        if milliseconds <= 0 { return .zero }
        return min(.milliseconds(Int64(min(milliseconds, 1e15))), maximum)
    }

    /// `1*DIGIT`, plus a leading `-` that some servers send and that means "now".
    private static func deltaSeconds(_ text: String) -> Duration? {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        if negative { return .zero }
        let significant = digits.drop { $0 == "0" }
        guard significant.count <= 12, let seconds = Int64(significant.isEmpty ? "0" : significant) else {
            return maximum
        }
        return min(.seconds(seconds), maximum)
    }

    /// Seconds since 1970 for an IMF-fixdate, RFC 850 or asctime date; `nil` otherwise.
    static func httpDate(_ text: String, now: Date) -> Int64? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        if fields.count == 6, fields[0].hasSuffix(","), weekdays.contains(String(fields[0].dropLast())),
            fields[5] == "GMT", fields[1].count == 2, fields[3].count == 4,
            let day = Int(fields[1]), let month = month(fields[2]), let year = Int(fields[3])
        {
            return epoch(year: year, month: month, day: day, time: fields[4])
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        if fields.count == 4, fields[0].hasSuffix(","), longWeekdays.contains(String(fields[0].dropLast())),
            fields[3] == "GMT"
        {
            let parts = fields[1].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, parts[0].count == 2, parts[2].count == 2, let day = Int(parts[0]),
                let month = month(parts[1]), let shortYear = Int(parts[2])
            else { return nil }
            return epoch(year: fullYear(shortYear, now: now), month: month, day: day, time: fields[2])
        }
        // asctime: Sun Nov  6 08:49:37 1994
        if fields.count == 5, weekdays.contains(fields[0]), let month = month(fields[1]),
            (1...2).contains(fields[2].count), let day = Int(fields[2]), fields[4].count == 4, let year = Int(fields[4])
        {
            return epoch(year: year, month: month, day: day, time: fields[3])
        }
        return nil
    }

    private static func month(_ name: String) -> Int? {
        months.firstIndex(of: name).map { $0 + 1 }
    }

    /// RFC 9110: a two-digit year that would be more than 50 years in the future is in the past
    /// century.
    private static func fullYear(_ shortYear: Int, now: Date) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let currentYear = calendar.component(.year, from: now)
        var year = currentYear - currentYear % 100 + shortYear
        if year > currentYear + 50 { year -= 100 }
        return year
    }

    private static func epoch(year: Int, month: Int, day: Int, time: String) -> Int64? {
        let parts = time.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }),
            let hour = Int(parts[0]), let minute = Int(parts[1]), let second = Int(parts[2]),
            (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second),
            (1...9999).contains(year), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        return daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day)) * 86_400
            + Int64(hour * 3600 + minute * 60 + second)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days-from-civil: days since 1970-01-01 of a proleptic Gregorian date.
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
