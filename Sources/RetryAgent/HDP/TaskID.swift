/// An HDP task identifier, validated before it gets anywhere near a URL.
///
/// HDP calls its task ids "uuid", but issues ULIDs: 26 characters of Crockford base32 whose first
/// character is `0`–`7` (no `I`, `L`, `O`, `U`). Hyphenated RFC 4122 UUIDs (8-4-4-4-12 hex) are
/// accepted too. Input is never trimmed; anything else is rejected.
///
/// The identity is canonical so that `01jpj…` and `01JPJ…` are one task: ULIDs are stored in
/// upper case, UUIDs in lower case. Every character of a canonical id is URL-safe, so it can be
/// placed in a path segment as is.
public struct TaskID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The canonical spelling.
    public let rawValue: String

    /// Validates and canonicalises `string`; `nil` when it is neither a ULID nor a UUID.
    public init?(_ string: String) {
        let bytes = Array(string.utf8)
        if let ulid = Self.canonicalULID(bytes) {
            self.rawValue = ulid
        } else if let uuid = Self.canonicalUUID(bytes) {
            self.rawValue = uuid
        } else {
            return nil
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: TaskID, rhs: TaskID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Why a string is not a task id, in words fit for a 400 response.
    public static func problem(with string: String) -> String {
        if string.isEmpty { return "task id is empty" }
        if string.utf8.count == 26 {
            let first = string.utf8.first!
            if !(UInt8(ascii: "0")...UInt8(ascii: "7")).contains(first) {
                return "task id is not a ULID: the first character must be 0-7"
            }
            return "task id is not a ULID: only Crockford base32 characters are allowed (no I, L, O, U)"
        }
        if string.utf8.count == 36 {
            return "task id is not a UUID: expected 8-4-4-4-12 hexadecimal digits"
        }
        return "task id must be a 26-character ULID or a 36-character UUID (got \(string.utf8.count) characters)"
    }

    private static func canonicalULID(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 26 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(26)
        for (index, byte) in bytes.enumerated() {
            var upper = byte
            if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) { upper = byte - 32 }
            let isDigit = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(upper)
            let isLetter = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(upper)
            guard isDigit || isLetter else { return nil }
            switch upper {
            case UInt8(ascii: "I"), UInt8(ascii: "L"), UInt8(ascii: "O"), UInt8(ascii: "U"): return nil
            default: break
            }
            if index == 0, !(UInt8(ascii: "0")...UInt8(ascii: "7")).contains(upper) { return nil }
            out.append(upper)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func canonicalUUID(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 36 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                out.append(byte)
                continue
            }
            var lower = byte
            if (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) { lower = byte + 32 }
            let isHex =
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(lower)
                || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(lower)
            guard isHex else { return nil }
            out.append(lower)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
