/// An HDP task identifier, validated before it gets anywhere near a URL.
///
/// HDP calls its task ids "uuid", but issues ULIDs: 26 characters of Crockford base32 whose first
/// character is `0`–`7` (no `I`, `L`, `O`, `U`). Hyphenated RFC 4122 UUIDs (8-4-4-4-12 hex) are
/// accepted too. Input is never trimmed; anything else is rejected.
///
/// The identity is canonical so that `01jpj…` and `01JPJ…` are one task: ULIDs are spelled in
/// upper case, UUIDs in lower case. Every character of a canonical id is URL-safe, so it can be
/// placed in a path segment as is.
///
/// Both kinds are 128-bit numbers, and that is what is stored: two words and the kind, no string.
/// A task id is a key of the ledger's busiest tables and sits in every journal record, so it is
/// hashed, compared and copied without allocating or reference counting; ``rawValue`` spells it
/// out when it is needed (a URL, a log line, the journal).
public struct TaskID: Hashable, Sendable, CustomStringConvertible, Comparable {
    private enum Kind: UInt8 {
        case ulid
        case uuid
    }

    /// The 128-bit value, most significant word first: for a ULID the base32 digits, for a UUID
    /// the hexadecimal ones. Within one kind, numeric order is the order of the canonical spelling.
    private let high: UInt64
    private let low: UInt64
    private let kind: Kind

    /// Validates and canonicalises `string`; `nil` when it is neither a ULID nor a UUID.
    public init?(_ string: String) {
        var string = string
        guard let id = string.withUTF8({ Self(utf8: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = id
    }

    /// Validates and canonicalises the UTF-8 bytes of a task id; `nil` when they are neither a
    /// ULID nor a UUID.
    public init?(utf8 bytes: UnsafeRawBufferPointer) {
        switch bytes.count {
        case 26:
            guard let (high, low) = Self.parseULID(bytes) else { return nil }
            self.init(high: high, low: low, kind: .ulid)
        case 36:
            guard let (high, low) = Self.parseUUID(bytes) else { return nil }
            self.init(high: high, low: low, kind: .uuid)
        default:
            return nil
        }
    }

    private init(high: UInt64, low: UInt64, kind: Kind) {
        self.high = high
        self.low = low
        self.kind = kind
    }

    /// The canonical spelling.
    public var rawValue: String {
        switch kind {
        case .ulid:
            String(unsafeUninitializedCapacity: 26) { buffer in
                // 26 digits of 5 bits: the top 2 bits of the 130 are always zero.
                for index in 0..<26 {
                    let shift = 5 * (25 - index)
                    let digit: UInt64
                    if shift >= 64 {
                        digit = (high >> UInt64(shift - 64)) & 31
                    } else if shift > 59 {
                        digit = ((low >> UInt64(shift)) | (high << UInt64(64 - shift))) & 31
                    } else {
                        digit = (low >> UInt64(shift)) & 31
                    }
                    buffer[index] = Self.crockford[Int(digit)]
                }
                return 26
            }
        case .uuid:
            String(unsafeUninitializedCapacity: 36) { buffer in
                var nibble = 0
                for index in 0..<36 {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        buffer[index] = UInt8(ascii: "-")
                        continue
                    }
                    let word = nibble < 16 ? high : low
                    let digit = (word >> UInt64(60 - 4 * (nibble % 16))) & 15
                    buffer[index] = Crypto.lowerHexDigits[Int(digit)]
                    nibble += 1
                }
                return 36
            }
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: TaskID, rhs: TaskID) -> Bool {
        guard lhs.kind == rhs.kind else { return lhs.rawValue < rhs.rawValue }
        return (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

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

    /// The Crockford base32 digits, in value order (which is also ASCII order).
    private static let crockford: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// The value of each ASCII byte as a Crockford digit (either case), or 0xFF when it is not
    /// one (`I`, `L`, `O`, `U` and everything outside letters and digits).
    private static let crockfordValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, digit) in crockford.enumerated() {
            table[Int(digit)] = UInt8(value)
            if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(digit) { table[Int(digit + 32)] = UInt8(value) }
        }
        return table
    }()

    /// The value of each ASCII byte as a hexadecimal digit (either case), or 0xFF.
    private static let hexValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, digit) in Crypto.lowerHexDigits.enumerated() {
            table[Int(digit)] = UInt8(value)
            if digit >= UInt8(ascii: "a") { table[Int(digit - 32)] = UInt8(value) }
        }
        return table
    }()

    /// The 128 bits of a 26-character ULID whose first digit is 0–7.
    private static func parseULID(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var invalid: UInt8 = 0
        crockfordValues.withUnsafeBufferPointer { table in
            for index in 0..<26 {
                let value = table[Int(bytes[index])]
                invalid |= value & 0xE0
                high = high << 5 | low >> 59
                low = low << 5 | UInt64(value & 31)
            }
        }
        // A first digit over 7 needs more than 128 bits.
        guard invalid == 0, crockfordValues[Int(bytes[0])] <= 7 else { return nil }
        return (high, low)
    }

    /// The 128 bits of a hyphenated 8-4-4-4-12 UUID.
    private static func parseUUID(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var nibbles = 0
        var invalid: UInt8 = 0
        hexValues.withUnsafeBufferPointer { table in
            for index in 0..<36 {
                let byte = bytes[index]
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    if byte != UInt8(ascii: "-") { invalid = 0xFF }
                    continue
                }
                let value = table[Int(byte)]
                invalid |= value & 0xF0
                if nibbles < 16 {
                    high = high << 4 | UInt64(value & 15)
                } else {
                    low = low << 4 | UInt64(value & 15)
                }
                nibbles += 1
            }
        }
        guard invalid == 0 else { return nil }
        return (high, low)
    }
}
