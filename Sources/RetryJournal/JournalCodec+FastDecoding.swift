import Foundation
import RetryCore

extension JournalCodec {
    /// Reads a line in exactly the shape ``JournalCodec/encode(_:)`` writes (fields in the
    /// encoder's order, no whitespace) straight into a ``JournalRecord``, without building a
    /// `JSONValue` tree: no dictionaries, no key strings, dates and enumerations read from the
    /// bytes. Strings and numbers go through ``JSONParser``'s own lexer, so they are read by the
    /// same rules as on the general path.
    ///
    /// It answers `nil` for anything else (another field order, whitespace, `null` for an absent
    /// field, an unknown field, a syntax error); ``JournalCodec/decode(_:)`` then takes the general
    /// path, which gives the authoritative result or error. So the fast path can only be faster,
    /// never different: a line it reads, the general path reads the same.
    struct FastDecoder {
        /// Strings that recur (status, reason, rule, result, error texts): one copy each, shared
        /// by every record and by the ledger's episodes; HDP's statuses are the literals.
        var words = Self.presetWords

        /// The table every decoder starts from, built once: a decoder made for a single line
        /// copies it (its arrays are shared until the first insertion) instead of rebuilding it.
        static let presetWords = JournalCodec.StringTable(
            limit: 1 << 12, maxLength: 512, preset: TaskStatusInfo.documentedStatuses)
        /// The lexer over the current line.
        var cursor = JSONParser.Cursor(bytes: UnsafeRawBufferPointer(start: nil, count: 0))

        /// The record on `line`, whose checksum suffix (the last ``JournalCodec/suffixLength``
        /// bytes) was verified; `nil` when the line is not in the canonical shape.
        mutating func record(_ line: UnsafeRawBufferPointer) -> JournalRecord? {
            cursor = JSONParser.Cursor(bytes: line)
            guard literal(#"{"v":1,"seq":"#), let seq = int(), seq > 0,
                literal(#","time":"#), let time = date(),
                literal(#","type":"#), let type = plainString()
            else { return nil }
            var task: TaskID?
            if key("task", first: false) {
                guard let bytes = plainString(), let id = TaskID(utf8: bytes) else { return nil }
                task = id
            }
            guard literal(#","data":"#), let body = body(type: type),
                cursor.index == line.count - JournalCodec.suffixLength
            else { return nil }
            return JournalRecord(seq: UInt64(seq), time: time, task: task, body: body)
        }
    }

}

/// The tokens of the canonical shape: each method consumes one token and answers `nil` (or
/// `false`) when the bytes are not what the encoder writes there.
extension JournalCodec.FastDecoder {
    /// The current line.
    var bytes: UnsafeRawBufferPointer { cursor.bytes }

    /// Consumes `text` when the bytes at the cursor are exactly it.
    mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        let start = cursor.index
        guard start + count <= bytes.count,
            memcmp(bytes.baseAddress.unsafelyUnwrapped + start, text.utf8Start, count) == 0
        else { return false }
        cursor.index = start + count
        return true
    }

    /// Consumes `"name":` (preceded by `,` unless it is the object's first member) when the
    /// next member is `name`; otherwise leaves the cursor where it was.
    mutating func key(_ name: StaticString, first: Bool) -> Bool {
        let start = cursor.index
        if !first {
            guard start < bytes.count, bytes[start] == UInt8(ascii: ",") else { return false }
            cursor.index += 1
        }
        let nameCount = name.utf8CodeUnitCount
        let at = cursor.index
        guard at + nameCount + 3 <= bytes.count, bytes[at] == UInt8(ascii: "\""),
            memcmp(bytes.baseAddress.unsafelyUnwrapped + at + 1, name.utf8Start, nameCount) == 0,
            bytes[at + 1 + nameCount] == UInt8(ascii: "\""), bytes[at + 2 + nameCount] == UInt8(ascii: ":")
        else {
            cursor.index = start
            return false
        }
        cursor.index = at + nameCount + 3
        return true
    }

    /// The bytes of a string without escapes (the cursor moves past it); `nil` otherwise.
    mutating func plainString() -> UnsafeRawBufferPointer? {
        guard cursor.index < bytes.count, bytes[cursor.index] == UInt8(ascii: "\"") else { return nil }
        return try? cursor.plainString()
    }

    /// A string of a field whose values repeat (status, reason, rule, result, error), interned.
    mutating func word() -> String? {
        guard cursor.index < bytes.count, bytes[cursor.index] == UInt8(ascii: "\"") else { return nil }
        let start = cursor.index
        guard let text = try? cursor.plainString() else {
            cursor.index = start
            return string()
        }
        return words.string(text)
    }

    /// A string, escapes and all, read by the general lexer.
    mutating func string() -> String? {
        guard cursor.index < bytes.count, bytes[cursor.index] == UInt8(ascii: "\"") else { return nil }
        return try? cursor.string()
    }

    /// An integer as ``JournalCodec/Fields/int(_:)`` reads it.
    mutating func int() -> Int? {
        guard cursor.index < bytes.count else { return nil }
        let first = bytes[cursor.index]
        guard first == UInt8(ascii: "-") || (48...57).contains(first), let value = try? cursor.number(),
            value.rounded() == value, abs(value) < 1e15
        else { return nil }
        return Int(value)
    }

    /// A number as ``JournalCodec/Fields/double(_:)`` reads it.
    mutating func double() -> Double? {
        guard cursor.index < bytes.count else { return nil }
        let first = bytes[cursor.index]
        guard first == UInt8(ascii: "-") || (48...57).contains(first) else { return nil }
        return try? cursor.number()
    }

    /// A timestamp; the journal's own shape takes the integer-only path of ``ISO8601``.
    mutating func date() -> Date? {
        guard let text = plainString() else { return nil }
        return ISO8601.parse(utf8: text)
    }

    /// `true` or `false`.
    mutating func bool() -> Bool? {
        if literal("true") { return true }
        if literal("false") { return false }
        return nil
    }

    /// One of `cases`, spelled exactly as its raw value.
    mutating func enumeration<T: RawRepresentable>(_ cases: [T]) -> T? where T.RawValue == String {
        guard let text = plainString() else { return nil }
        for candidate in cases {
            var raw = candidate.rawValue
            let equal = raw.withUTF8 { raw in
                guard raw.count == text.count, let left = raw.baseAddress, let right = text.baseAddress else {
                    return false
                }
                return memcmp(left, right, raw.count) == 0
            }
            if equal { return candidate }
        }
        return nil
    }

    /// A duration as ``DurationText/parse(_:)`` reads it. The encoder's one-component spelling
    /// (`30s`, `1500ms`) is read here with the same arithmetic; anything else goes to
    /// `DurationText` itself.
    mutating func duration() -> Duration? {
        guard let text = plainString() else { return nil }
        var value = 0
        var index = 0
        while index < text.count, index < 12, (48...57).contains(text[index]) {
            value = value * 10 + Int(text[index] - 48)
            index += 1
        }
        let scale: Double
        switch (text.count - index, index < text.count ? text[index] : 0) {
        case (1, UInt8(ascii: "s")): scale = 1
        case (1, UInt8(ascii: "m")): scale = 60
        case (1, UInt8(ascii: "h")): scale = 3600
        case (2, UInt8(ascii: "m")) where text[index + 1] == UInt8(ascii: "s"): scale = 0.001
        default: return DurationText.parse(String(decoding: text, as: UTF8.self))
        }
        guard index > 0 else { return nil }
        let seconds = Double(value) * scale
        guard seconds < 1e12 else { return nil }
        return .zero + .nanoseconds(Int64((seconds * 1e9).rounded()))
    }

    /// An optional interned string member: `.some(nil)` when absent, `nil` when present but not
    /// readable (the whole line then falls back to the general path).
    mutating func optionalWord(_ name: StaticString) -> String?? {
        guard key(name, first: false) else { return .some(nil) }
        guard let value = word() else { return nil }
        return .some(value)
    }

    /// An optional integer member.
    mutating func optionalInt(_ name: StaticString) -> Int?? {
        guard key(name, first: false) else { return .some(nil) }
        guard let value = int() else { return nil }
        return .some(value)
    }

    /// An optional timestamp member.
    mutating func optionalDate(_ name: StaticString) -> Date?? {
        guard key(name, first: false) else { return .some(nil) }
        guard let value = date() else { return nil }
        return .some(value)
    }

    /// The closing brace of the current object.
    mutating func endObject() -> Bool { literal("}") }
}
