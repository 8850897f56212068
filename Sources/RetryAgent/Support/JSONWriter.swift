import Foundation

/// Writes compact JSON into a byte buffer, fields in the order given. Used for journal records
/// and HTTP responses, where a stable field order keeps files and answers readable.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    public init() {
        bytes.reserveCapacity(256)
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma.removeLast()
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma.removeLast()
    }

    /// Writes `"name":` inside an object; the value follows.
    public mutating func key(_ name: String) {
        separate()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        if !needsComma.isEmpty { needsComma[needsComma.count - 1] = false }
    }

    public mutating func string(_ value: String) {
        separate()
        appendQuoted(value)
    }

    public mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func uint(_ value: UInt64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func double(_ value: Double) {
        separate()
        if value.isFinite, value.rounded() == value, abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else if value.isFinite {
            bytes.append(contentsOf: "\(value)".utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// A timestamp as ISO 8601 with milliseconds, UTC (`2026-11-29T10:00:00.000Z`).
    public mutating func date(_ value: Date) {
        string(ISO8601.format(value))
    }

    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let number): double(number)
        case .string(let text): string(text)
        case .array(let items):
            beginArray()
            for item in items { self.value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for name in members.keys.sorted() {
                key(name)
                self.value(members[name] ?? .null)
            }
            endObject()
        }
    }

    // Convenience for optional fields: skipped when nil.
    public mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    public mutating func field(_ name: String, _ value: Int?) {
        guard let value else { return }
        key(name)
        int(value)
    }

    public mutating func field(_ name: String, _ value: Date?) {
        guard let value else { return }
        key(name)
        date(value)
    }

    public mutating func field(_ name: String, _ value: Bool?) {
        guard let value else { return }
        key(name)
        bool(value)
    }

    private mutating func separate() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] {
            bytes.append(UInt8(ascii: ","))
        }
        needsComma[needsComma.count - 1] = true
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// ISO 8601 timestamps with millisecond precision, formatted and parsed without Foundation's
/// formatters (which are slow and not `Sendable`).
public enum ISO8601 {
    /// `2026-11-29T10:00:00.123Z`.
    public static func format(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
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
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let hour = msOfDay / 3_600_000
        let minute = msOfDay / 60_000 % 60
        let second = msOfDay / 1000 % 60
        let millisecond = msOfDay % 1000
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(millisecond, 3))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `nil` for anything else.
    public static func parse(_ text: String) -> Date? {
        var utf8 = Array(text.utf8)
        if utf8.count < 20 { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= utf8.count else { return nil }
            var value: Int64 = 0
            for index in from..<(from + count) {
                let byte = utf8[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        if utf8[10] == UInt8(ascii: " ") || utf8[10] == UInt8(ascii: "t") { utf8[10] = UInt8(ascii: "T") }
        guard let year = number(0, 4), utf8[4] == UInt8(ascii: "-"), let month = number(5, 2),
            utf8[7] == UInt8(ascii: "-"),
            let day = number(8, 2), utf8[10] == UInt8(ascii: "T"), let hour = number(11, 2),
            utf8[13] == UInt8(ascii: ":"),
            let minute = number(14, 2), utf8[16] == UInt8(ascii: ":"), let second = number(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fractionValue: Int64 = 0
        var fractionDigits = 0
        if index < utf8.count, utf8[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < utf8.count, utf8[index] >= 48, utf8[index] <= 57 {
                if fractionDigits < 9 {
                    fractionValue = fractionValue * 10 + Int64(utf8[index] - 48)
                    fractionDigits += 1
                }
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < utf8.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch utf8[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == utf8.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = utf8[index] == UInt8(ascii: "+") ? 1 : -1
            guard let offsetHours = number(index + 1, 2) else { return nil }
            var offsetMinutes: Int64 = 0
            if index + 3 < utf8.count {
                let minuteStart = utf8[index + 3] == UInt8(ascii: ":") ? index + 4 : index + 3
                guard let parsed = number(minuteStart, 2), minuteStart + 2 == utf8.count else { return nil }
                offsetMinutes = parsed
            }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        default:
            return nil
        }
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * mp + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        if fractionDigits <= 3 {
            var milliseconds = fractionValue
            for _ in fractionDigits..<3 { milliseconds *= 10 }
            return Date(millisecondsSince1970: seconds * 1000 + milliseconds)
        }
        var divisor = 1.0
        for _ in 0..<fractionDigits { divisor *= 10 }
        return Date(timeIntervalSince1970: Double(seconds) + Double(fractionValue) / divisor)
    }
}

extension Date {
    /// A date from whole milliseconds since 1970, exactly as the journal reads it back.
    public init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// This date rounded to the millisecond: what the journal stores, so that a record applied
    /// live and the same record replayed from disk give identical state.
    public var roundedToMilliseconds: Date {
        Date(millisecondsSince1970: Int64((timeIntervalSince1970 * 1000).rounded()))
    }
}
