/// A small, strict JSON parser over UTF-8 bytes, used for journal lines (where it is the replay
/// hot path) and anywhere a `JSONValue` is wanted. Nesting is limited to ``maximumDepth``.
public struct JSONParser {
    /// Deeper documents are rejected rather than risking the stack.
    public static let maximumDepth = 64

    /// A document that is not valid JSON.
    public struct SyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The 0-based byte offset of the problem.
        public var offset: Int
        public var message: String
        /// The document nests containers deeper than ``JSONParser/maximumDepth``.
        public var isTooDeep = false
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses `bytes` as exactly one JSON value (surrounding whitespace allowed).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(SyntaxError) -> JSONValue {
        var parser = Cursor(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else {
            throw SyntaxError(offset: parser.index, message: "unexpected trailing data")
        }
        return value
    }

    /// Parses a byte array.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        let result = bytes.withUnsafeBytes { buffer in Result { () throws(SyntaxError) in try parse(buffer) } }
        return try result.get()
    }

    /// The lexer, shared with the journal's schema-driven decoder (`JournalCodec+FastDecoding`)
    /// so that both read strings and numbers by exactly the same rules.
    package struct Cursor {
        package let bytes: UnsafeRawBufferPointer
        package var index = 0

        package init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        package mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        package func fail(_ message: String) -> SyntaxError { SyntaxError(offset: index, message: message) }

        /// A value enclosed by `depth` containers; opening one more must stay within the limit.
        package mutating func value(depth: Int) throws(SyntaxError) -> JSONValue {
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: "{") || bytes[index] == UInt8(ascii: "["), depth >= JSONParser.maximumDepth
            {
                var error = fail("nesting deeper than \(JSONParser.maximumDepth) levels")
                error.isTooDeep = true
                throw error
            }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        package mutating func literal(_ word: StaticString) throws(SyntaxError) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw fail("unexpected end of input") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
                throw fail("invalid literal")
            }
            index += count
        }

        package mutating func object(depth: Int) throws(SyntaxError) -> JSONValue {
            index += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw fail("expected a member name")
                }
                let name = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                index += 1
                skipWhitespace()
                // RFC 8259 leaves duplicate names to the reader; two readers that pick different
                // ones (a relay keeping the first, this parser the last) would not agree on which
                // task failed, so a duplicate is an error.
                guard members[name] == nil else { throw fail("duplicate member name") }
                members[name] = try value(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw fail("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                index += 1
                return .object(members)
            }
        }

        package mutating func array(depth: Int) throws(SyntaxError) -> JSONValue {
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw fail("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                index += 1
                return .array(items)
            }
        }

        /// The bytes of the string whose opening quote is at the cursor, when it has no escapes
        /// (the cursor moves past its closing quote); `nil`, with the cursor unmoved, when it has
        /// escapes or control characters (``string()`` then reads or rejects it).
        package mutating func plainString() throws(SyntaxError) -> UnsafeRawBufferPointer? {
            let end = Self.firstSpecialByte(in: bytes, from: index + 1)
            guard end < bytes.count else { throw SyntaxError(offset: end, message: "unterminated string") }
            guard bytes[end] == UInt8(ascii: "\"") else { return nil }
            let text = UnsafeRawBufferPointer(rebasing: bytes[(index + 1)..<end])
            index = end + 1
            return text
        }

        /// The offset of the first byte at or after `start` that ends the plain run of a string:
        /// a quote, a backslash or a control character (`bytes.count` when there is none).
        ///
        /// Eight bytes at a time: for a word `w`, `(w - 0x0101…) & ~w & 0x8080…` flags its zero
        /// bytes, so XOR with a repeated byte finds that byte and subtracting `0x2020…` finds the
        /// bytes below `0x20`. A flag can be spurious only above a true one, so the lowest flag
        /// (the first byte on a little-endian machine) is always exact. Journal lines are mostly
        /// strings, and this reads them several times faster than a byte at a time.
        package static func firstSpecialByte(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
            var offset = start
            #if _endian(little)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while offset + 8 <= bytes.count {
                let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
                let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
                let flags =
                    ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (word &- ones &* 0x20) & ~word)
                    & highs
                if flags != 0 { return offset + flags.trailingZeroBitCount / 8 }
                offset += 8
            }
            #endif
            while offset < bytes.count {
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { return offset }
                offset += 1
            }
            return offset
        }

        package mutating func string() throws(SyntaxError) -> String {
            index += 1
            let start = index
            // Fast path: no escapes.
            index = Self.firstSpecialByte(in: bytes, from: start)
            if index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    guard
                        let text = String(
                            validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    else { throw fail("invalid UTF-8 in string") }
                    index += 1
                    return text
                }
                guard byte >= 0x20 else { throw fail("control character in string") }
            }
            var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw fail("invalid UTF-8 in string")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw fail("unexpected end of input") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                    case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                    case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                                bytes[index + 1] == UInt8(ascii: "u")
                            else { throw fail("unpaired surrogate") }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw fail("unpaired surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw fail("invalid escape")
                    }
                default:
                    guard byte >= 0x20 else { throw fail("control character in string") }
                    out.append(byte)
                    index += 1
                }
            }
            throw fail("unterminated string")
        }

        package mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw fail("unexpected end of input") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case 48...57: digit = UInt32(byte - 48)
                case 65...70: digit = UInt32(byte - 55)
                case 97...102: digit = UInt32(byte - 87)
                default: throw fail("invalid \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        package mutating func number() throws(SyntaxError) -> Double {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            var integer: Int64 = 0
            var digits = 0
            var simple = true
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 18 { integer = integer * 10 + Int64(bytes[index] - 48) } else { simple = false }
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw fail("invalid value") }
            if digits > 1, bytes[start + (bytes[start] == UInt8(ascii: "-") ? 1 : 0)] == 48 {
                throw fail("leading zero")
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") {
                simple = false
                if bytes[index] == UInt8(ascii: ".") {
                    index += 1
                    let fractionStart = index
                    while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
                    guard index > fractionStart else { throw fail("invalid number") }
                }
                if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                    index += 1
                    if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                        index += 1
                    }
                    let exponentStart = index
                    while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
                    guard index > exponentStart else { throw fail("invalid number") }
                }
            }
            if simple { return Double(bytes[start] == UInt8(ascii: "-") ? -integer : integer) }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text) else { throw fail("invalid number") }
            return value
        }
    }
}
