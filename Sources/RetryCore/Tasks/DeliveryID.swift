/// A delivery id as a journal record carries it.
///
/// Senders choose their ids, but nearly every one has one of two shapes: a Standard Webhooks or
/// Svix id (`msg_` and 27 characters: 31 bytes) or the agent's own body hash (`sha256:` and 64
/// lower-case hexadecimal digits). Both are held inline, without an allocation: an ASCII id of
/// up to 32 bytes as its bytes, a body hash as its 32-byte digest. Replay decodes one for every
/// delivery record, and a string per record would cost an allocation on the decoding thread and
/// a free on the applying one. Any other id is kept as a string.
///
/// Two ids are equal when they are spelled with the same bytes (as their ``DeliveryKey``s are): each
/// spelling has exactly one storage, and ids kept as strings compare their UTF-8, not Unicode
/// equivalence (`é` and `e` + U+0301 are different ids).
public struct DeliveryID: Sendable, Hashable, CustomStringConvertible {
    /// 32 bytes, in memory order.
    private struct Bytes32: Sendable, Hashable {
        var words: (UInt64, UInt64, UInt64, UInt64)

        static func == (lhs: Bytes32, rhs: Bytes32) -> Bool {
            lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
                && lhs.words.3 == rhs.words.3
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(words.0)
            hasher.combine(words.1)
            hasher.combine(words.2)
            hasher.combine(words.3)
        }
    }

    private enum Storage: Sendable {
        /// An ASCII id of `count` (at most 32) bytes.
        case ascii(Bytes32, count: UInt8)
        /// `sha256:` and the lower-case hexadecimal spelling of these 32 bytes.
        case bodyHash(Bytes32)
        case text(String)
    }

    private let storage: Storage

    private static let bodyHashPrefix: [UInt8] = Array("sha256:".utf8)

    /// The id spelled `text`.
    public init(_ text: String) {
        var text = text
        // A Swift string's UTF-8 is always valid.
        self = text.withUTF8 { Self(utf8: UnsafeRawBufferPointer($0)) } ?? Self(storage: .text(text))
    }

    private init(storage: Storage) {
        self.storage = storage
    }

    /// The id spelled by the UTF-8 bytes `bytes`; `nil` when they are not valid UTF-8.
    public init?(utf8 bytes: UnsafeRawBufferPointer) {
        if bytes.count <= 32, bytes.allSatisfy({ $0 < 0x80 }) {
            var inline = Bytes32(words: (0, 0, 0, 0))
            withUnsafeMutableBytes(of: &inline.words) { $0.copyMemory(from: bytes) }
            storage = .ascii(inline, count: UInt8(bytes.count))
        } else if let digest = Self.bodyHashDigest(bytes) {
            storage = .bodyHash(digest)
        } else if let text = String(validating: bytes, as: UTF8.self) {
            storage = .text(text)
        } else {
            return nil
        }
    }

    /// The digest of a body-hash id spelled in lower-case hexadecimal, `nil` for anything else.
    private static func bodyHashDigest(_ bytes: UnsafeRawBufferPointer) -> Bytes32? {
        let prefix = bodyHashPrefix.count
        guard bytes.count == prefix + 64, bytes.starts(with: bodyHashPrefix) else { return nil }
        var digest = Bytes32(words: (0, 0, 0, 0))
        let valid = withUnsafeMutableBytes(of: &digest.words) { output in
            for index in 0..<32 {
                let pair = (bytes[prefix + 2 * index], bytes[prefix + 2 * index + 1])
                // Lower case only: an upper-case spelling is another id, kept as text.
                guard !isUpperHex(pair.0), !isUpperHex(pair.1), let high = Crypto.hexValue(pair.0),
                    let low = Crypto.hexValue(pair.1)
                else { return false }
                output[index] = high << 4 | low
            }
            return true
        }
        return valid ? digest : nil
    }

    private static func isUpperHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// Calls `body` with the id's UTF-8 bytes.
    public func withUTF8<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch storage {
        case .ascii(let inline, let count):
            var words = inline.words
            return try withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(count)])) }
        case .bodyHash(let digest):
            var words = digest.words
            let prefix = Self.bodyHashPrefix.count
            return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefix + 64) { spelled in
                for (index, byte) in Self.bodyHashPrefix.enumerated() { spelled[index] = byte }
                withUnsafeBytes(of: &words) { bytes in
                    for (index, byte) in bytes.enumerated() {
                        spelled[prefix + 2 * index] = Crypto.lowerHexDigits[Int(byte >> 4)]
                        spelled[prefix + 2 * index + 1] = Crypto.lowerHexDigits[Int(byte & 15)]
                    }
                }
                return try body(UnsafeRawBufferPointer(spelled))
            }
        case .text(var text):
            return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        }
    }

    public static func == (lhs: DeliveryID, rhs: DeliveryID) -> Bool {
        switch (lhs.storage, rhs.storage) {
        case (.ascii(let left, let leftCount), .ascii(let right, let rightCount)):
            leftCount == rightCount && left == right
        case (.bodyHash(let left), .bodyHash(let right)): left == right
        case (.text(let left), .text(let right)): left.utf8.elementsEqual(right.utf8)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch storage {
        case .ascii(let inline, let count):
            hasher.combine(0 as UInt8)
            hasher.combine(inline)
            hasher.combine(count)
        case .bodyHash(let digest):
            hasher.combine(1 as UInt8)
            hasher.combine(digest)
        case .text:
            hasher.combine(2 as UInt8)
            withUTF8 { hasher.combine(bytes: $0) }
        }
    }

    /// The id as the sender spelled it.
    public var description: String {
        if case .text(let text) = storage { return text }
        return withUTF8 { String(decoding: $0, as: UTF8.self) }
    }
}
