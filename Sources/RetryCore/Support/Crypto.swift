import COpenSSL

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Thin wrappers over the system OpenSSL (libcrypto) for the few primitives the agent needs.
///
/// Nothing here is hand-written cryptography: HMAC, SHA-256, the constant-time comparison and the
/// random generator are OpenSSL's. The wrappers only deal with Swift buffers, so that callers never
/// touch unsafe pointers, and they never fail silently: a failed random draw throws instead of
/// handing back predictable bytes.
public enum Crypto {
    /// The length in bytes of a SHA-256 digest and of an HMAC-SHA256 tag.
    public static let sha256Length = 32

    /// HMAC-SHA256 of `data` under `key` (RFC 2104), through OpenSSL's one-shot `HMAC()`.
    ///
    /// Any key length is valid: keys longer than the block size are hashed first, as the RFC says.
    public static func hmacSHA256(key: some Collection<UInt8>, data: some Collection<UInt8>) -> [UInt8] {
        let keyBytes = Array(key)
        let dataBytes = Array(data)
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outputLength: UInt32 = 0
        // An empty Swift array may have no storage; OpenSSL treats a NULL key as "reuse the
        // previous key" in some code paths, so always hand it a valid pointer.
        let safeKey = keyBytes.isEmpty ? [UInt8(0)] : keyBytes
        let result = safeKey.withUnsafeBufferPointer { keyBuffer in
            withNonNullPointer(dataBytes) { dataPointer in
                output.withUnsafeMutableBufferPointer { outBuffer in
                    HMAC(
                        EVP_sha256(), keyBuffer.baseAddress, Int32(keyBytes.count),
                        dataPointer, dataBytes.count, outBuffer.baseAddress, &outputLength)
                }
            }
        }
        // HMAC() only fails on allocation failure or an unavailable digest, which leaves the
        // process unable to do anything useful; never return a partial tag.
        precondition(result != nil && outputLength == UInt32(sha256Length), "OpenSSL HMAC-SHA256 failed")
        return Array(output.prefix(sha256Length))
    }

    /// SHA-256 of `data`, through OpenSSL's `EVP_Digest`.
    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] {
        let dataBytes = Array(data)
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outputLength: UInt32 = 0
        let status = withNonNullPointer(dataBytes) { dataPointer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                EVP_Digest(dataPointer, dataBytes.count, outBuffer.baseAddress, &outputLength, sha256Algorithm, nil)
            }
        }
        precondition(status == 1 && outputLength == UInt32(sha256Length), "OpenSSL SHA-256 failed")
        return Array(output.prefix(sha256Length))
    }

    /// The first 16 bytes of the SHA-256 of `bytes`, as two big-endian words, digested into a
    /// buffer on the stack (replay calls it for every delivery record).
    public static func sha256Prefix128(_ bytes: UnsafeRawBufferPointer) -> (high: UInt64, low: UInt64) {
        var digest: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var length: UInt32 = 0
        // An empty buffer may have no address; OpenSSL gets a valid one regardless.
        var empty: UInt8 = 0
        let status = withUnsafeMutableBytes(of: &digest) { output in
            withUnsafeBytes(of: &empty) { fallback in
                EVP_Digest(
                    bytes.baseAddress ?? fallback.baseAddress, bytes.count,
                    output.baseAddress?.assumingMemoryBound(to: UInt8.self), &length, sha256Algorithm, nil)
            }
        }
        precondition(status == 1 && length == UInt32(sha256Length), "OpenSSL SHA-256 failed")
        return (UInt64(bigEndian: digest.0), UInt64(bigEndian: digest.1))
    }

    /// SHA-256, looked up in OpenSSL's default provider once. `EVP_sha256()` and the one-shot
    /// `SHA256()` look the algorithm up again on every call (OpenSSL 3), which costs more than
    /// hashing a short delivery id.
    ///
    /// `nonisolated(unsafe)`: written once at first use (Swift's lazy global initialisation is
    /// thread-safe), then only read; OpenSSL allows one fetched algorithm to be used by any
    /// number of threads at once.
    nonisolated(unsafe) private static let sha256Algorithm: OpaquePointer? =
        EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()

    /// Whether `lhs` and `rhs` hold the same bytes, in time that does not depend on their content.
    ///
    /// Uses `CRYPTO_memcmp`. Unequal lengths answer `false`; the comparison still runs over `lhs`
    /// so that the time taken depends only on the lengths, never on where the bytes differ.
    public static func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        let left = Array(lhs)
        let right = Array(rhs)
        let sameLength = left.count == right.count
        let other = sameLength ? right : left
        let difference = withNonNullPointer(left) { leftPointer in
            withNonNullPointer(other) { otherPointer in
                CRYPTO_memcmp(leftPointer, otherPointer, left.count)
            }
        }
        return sameLength && difference == 0
    }

    /// `count` bytes from OpenSSL's cryptographically secure generator (`RAND_bytes`).
    ///
    /// Throws ``CryptoError`` when the generator cannot deliver (for example, it could not be
    /// seeded): a secret must never be made of predictable bytes.
    public static func randomBytes(count: Int) throws(CryptoError) -> [UInt8] {
        guard count >= 0, count <= Int(Int32.max) else { throw .invalidLength }
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { buffer in
            RAND_bytes(buffer.baseAddress, Int32(count))
        }
        guard status == 1 else { throw .randomGeneratorFailed }
        return bytes
    }

    /// Lower-case hexadecimal text of `bytes` (`[0xAB, 0x01]` → `"ab01"`).
    public static func hexEncoded(_ bytes: some Sequence<UInt8>) -> String {
        let digits = lowerHexDigits
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes spelled by hexadecimal `text` (either case); `nil` for an odd length or any
    /// character that is not a hex digit. Never trims.
    public static func hexDecoded(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count.isMultiple(of: 2) else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// The hexadecimal digits in lower case, by value.
    static let lowerHexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of a hexadecimal digit of either case.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Calls `body` with a pointer to `bytes`' storage, or to a dummy byte when `bytes` is empty,
    /// because OpenSSL functions take a pointer even for a zero length and some reject NULL.
    private static func withNonNullPointer<Result>(
        _ bytes: [UInt8], _ body: (UnsafePointer<UInt8>) -> Result
    ) -> Result {
        if bytes.isEmpty {
            let dummy: UInt8 = 0
            return withUnsafePointer(to: dummy) { body($0) }
        }
        return bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// A failure of the system crypto library, with a stable `reason` safe for logs and metrics.
public struct CryptoError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Reason: String, Sendable {
        case randomGeneratorFailed = "random_generator_failed"
        case invalidLength = "invalid_length"
    }

    private let base: Reason

    private init(_ base: Reason) { self.base = base }

    /// The system random generator could not deliver bytes (OpenSSL `RAND_bytes` failed).
    public static let randomGeneratorFailed = CryptoError(.randomGeneratorFailed)
    /// A negative or oversized byte count was requested.
    public static let invalidLength = CryptoError(.invalidLength)

    /// A short, stable identifier of the failure (`random_generator_failed`, `invalid_length`).
    public var reason: String { base.rawValue }

    /// The failure in words for logs.
    public var description: String {
        switch base {
        case .randomGeneratorFailed: "the system random generator (OpenSSL RAND_bytes) failed"
        case .invalidLength: "a random byte count must be between 0 and 2147483647"
        }
    }
}
