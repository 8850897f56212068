#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// ISO 8601 / RFC 3339 timestamps, formatted and parsed by hand: Foundation's formatters are slow,
/// not `Sendable`, and differ between platforms.
///
/// ``format(_:)`` writes UTC with milliseconds (`2026-11-29T10:00:00.123Z`), as the journal stores
/// times. ``parse(_:)`` accepts `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds (any number of
/// digits, kept to the nanosecond), and `Z`, `±HH:MM`, `±HHMM` or `±HH`; `t` or a space may
/// replace `T`. A time without a zone is read as UTC, because HDP and most senders mean UTC and
/// refusing it would lose the notice.
///
/// Only instants from `0000-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z` are dates here, after
/// rounding to the millisecond: ``parse(_:)`` answers `nil` outside that range (a sender's
/// `9999-12-31T23:59:60Z` or `0000-01-01T00:00:00+01:00` is not a date), so whatever it reads,
/// ``format(_:)`` writes in four-digit years and ``parse(_:)`` reads back. The journal relies on it:
/// a record must never hold a time its own replay cannot read.
public enum ISO8601 {
    /// The first and last milliseconds since 1970 that are dates: years 0000 to 9999.
    public static let millisecondRange: ClosedRange<Int64> =
        Int64(daysSinceEpoch(year: 0, month: 1, day: 1)) * 86_400_000...Int64(
            daysSinceEpoch(year: 10_000, month: 1, day: 1)) * 86_400_000 - 1

    /// `2026-11-29T10:00:00.123Z`. An instant outside ``millisecondRange`` (which ``parse(_:)``
    /// never produces) is written as the nearest end of it, so the text is always a date.
    public static func format(_ date: Date) -> String {
        String(unsafeUninitializedCapacity: 24) { buffer in
            write(date, into: UnsafeMutableRawBufferPointer(buffer))
            return 24
        }
    }

    /// Appends ``format(_:)``'s 24 bytes to `bytes` without making a string first (the journal
    /// encoder writes two or three timestamps per record).
    public static func append(_ date: Date, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(byteCount: 24, alignment: 1) { buffer in
            write(date, into: buffer)
            bytes.append(contentsOf: UnsafeRawBufferPointer(buffer))
        }
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes) into `buffer`, clamped to years 0000–9999.
    private static func write(_ date: Date, into buffer: UnsafeMutableRawBufferPointer) {
        let unclamped = (date.timeIntervalSince1970 * 1000).rounded()
        let totalMilliseconds =
            unclamped.isNaN
            ? 0
            : Int64(
                min(max(unclamped, Double(millisecondRange.lowerBound)), Double(millisecondRange.upperBound)))
        var days =
            totalMilliseconds >= 0 ? totalMilliseconds / 86_400_000 : (totalMilliseconds - 86_399_999) / 86_400_000
        let msOfDay = totalMilliseconds - days * 86_400_000
        // Civil from days (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        var year = yearOfEra + era * 400
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        if month <= 2 { year += 1 }
        func digits(_ value: Int64, _ width: Int, at offset: Int) {
            var value = value
            for index in stride(from: offset + width - 1, through: offset, by: -1) {
                buffer[index] = UInt8(truncatingIfNeeded: 48 + value % 10)
                value /= 10
            }
        }
        digits(year, 4, at: 0)
        buffer[4] = UInt8(ascii: "-")
        digits(month, 2, at: 5)
        buffer[7] = UInt8(ascii: "-")
        digits(day, 2, at: 8)
        buffer[10] = UInt8(ascii: "T")
        digits(msOfDay / 3_600_000, 2, at: 11)
        buffer[13] = UInt8(ascii: ":")
        digits(msOfDay / 60_000 % 60, 2, at: 14)
        buffer[16] = UInt8(ascii: ":")
        digits(msOfDay / 1000 % 60, 2, at: 17)
        buffer[19] = UInt8(ascii: ".")
        digits(msOfDay % 1000, 3, at: 20)
        buffer[23] = UInt8(ascii: "Z")
    }

    /// The instant `text` denotes, or `nil` when it is not such a date-time.
    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(utf8: UnsafeRawBufferPointer($0)) }
    }

    /// The instant the UTF-8 `bytes` denote, or `nil` when they are not such a date-time.
    ///
    /// The journal's own shape, `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes), is read by a fixed-offset
    /// path with integer arithmetic only, then everything else by the general reader; both give
    /// the same instant for the same text (`ISO8601Tests` checks it on a generated table).
    public static func parse(utf8 bytes: UnsafeRawBufferPointer) -> Date? {
        if let milliseconds = journalShapeMilliseconds(bytes) {
            return millisecondRange.contains(milliseconds) ? Date(millisecondsSince1970: milliseconds) : nil
        }
        guard let date = parseGeneral(utf8: bytes),
            millisecondRange.contains(Int64((date.timeIntervalSince1970 * 1000).rounded()))
        else { return nil }
        return date
    }

    /// Milliseconds since 1970 of exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`; `nil` for any other shape
    /// and for out-of-range fields.
    static func journalShapeMilliseconds(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes[19] == UInt8(ascii: "."), bytes[23] == UInt8(ascii: "Z")
        else { return nil }
        // Every other byte must be a digit: subtracting "0" leaves 0...9 only for digits.
        var valid = true
        func digits(_ start: Int, _ count: Int) -> Int {
            var value = 0
            for index in start..<(start + count) {
                let digit = bytes[index] &- 48
                valid = valid && digit <= 9
                value = value &* 10 &+ Int(digit)
            }
            return value
        }
        let year = digits(0, 4)
        let month = digits(5, 2)
        let day = digits(8, 2)
        let hour = digits(11, 2)
        let minute = digits(14, 2)
        let second = digits(17, 2)
        let millisecond = digits(20, 3)
        guard valid, month >= 1, month <= 12, day >= 1, day <= daysIn(month: month, year: year), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second
        return Int64(seconds) * 1000 + Int64(millisecond)
    }

    /// The general reader: every shape ``parse(_:)`` documents.
    static func parseGeneral(utf8 bytes: UnsafeRawBufferPointer) -> Date? {
        guard bytes.count >= 19, bytes.count <= 64 else { return nil }
        var index = 0

        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + digits] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += digits
            return value
        }
        func expect(_ characters: StaticString) -> Bool {
            guard index < bytes.count else { return false }
            let byte = bytes[index]
            for offset in 0..<characters.utf8CodeUnitCount where characters.utf8Start[offset] == byte {
                index += 1
                return true
            }
            return false
        }

        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt "), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }

        var nanoseconds = 0
        var fractionDigits = 0
        if expect(".") {
            var digits = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if digits < 9 { nanoseconds = nanoseconds * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            fractionDigits = digits
            for _ in digits..<max(digits, 9) { nanoseconds *= 10 }
        }

        var offsetSeconds = 0
        if index < bytes.count {
            if expect("Zz") {
                // UTC.
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                index += 1
                guard let offsetHours = number(2), offsetHours <= 23 else { return nil }
                var offsetMinutes = 0
                if index < bytes.count {
                    _ = expect(":")
                    guard let minutes = number(2), minutes <= 59 else { return nil }
                    offsetMinutes = minutes
                }
                offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
            } else {
                return nil
            }
        }
        guard index == bytes.count else { return nil }

        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        if fractionDigits <= 3 {
            // Whole milliseconds (what the journal writes) are read back bit-exactly.
            return Date(millisecondsSince1970: Int64(seconds) * 1000 + Int64(nanoseconds / 1_000_000))
        }
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`).
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
