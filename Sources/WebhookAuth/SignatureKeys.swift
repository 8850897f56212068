import Foundation
import RetryCore

/// The key material of validated signature settings, shared by ``WebhookVerifier`` and
/// ``WebhookSigner`` so that both read secrets exactly the same way.
///
/// Its description is redacted: printing a verifier must never print a key.
struct SignatureKeys: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The scheme the keys are for.
    let scheme: SignatureScheme
    /// One key per configured secret, in order (the first signs). For `standard-webhooks` the
    /// base64-decoded part of `whsec_…`; for `hmac-sha256` and `url-token` the UTF-8 bytes as written.
    let keys: [[UInt8]]
    /// The `hmac-sha256` signature header.
    let header: String
    /// The `hmac-sha256` timestamp header, when configured.
    let timestampHeader: String?
    /// The tolerance in seconds, for comparison with Unix timestamps.
    let toleranceSeconds: Double

    /// The prefix of Standard Webhooks secrets.
    static let secretPrefix = "whsec_"
    /// The shortest URL token accepted: 16 URL-safe characters carry at least 95 bits when random.
    static let minimumTokenLength = 16
    /// The shortest Standard Webhooks key accepted, in bytes (128 bits; Svix generates 24).
    static let minimumKeyBytes = 16
    /// The shortest `hmac-sha256` secret accepted, in characters.
    static let minimumSecretLength = 16

    /// Validates `settings` and decodes its secrets.
    init(settings: SignatureSettings) throws(SignatureConfigurationError) {
        scheme = settings.scheme
        header = settings.header
        timestampHeader = settings.timestampHeader
        let components = settings.tolerance.components
        toleranceSeconds = Double(components.seconds) + Double(components.attoseconds) / 1e18

        if scheme == .none {
            keys = []
            return
        }
        guard toleranceSeconds > 0 else { throw .invalidTolerance }
        if scheme == .hmacSHA256 {
            guard Self.isHeaderName(header) else { throw .invalidHeaderName("header") }
            if let timestampHeader, !Self.isHeaderName(timestampHeader) {
                throw .invalidHeaderName("timestamp_header")
            }
        }
        guard !settings.secrets.isEmpty else { throw .noSecret(scheme) }

        var decoded = [[UInt8]]()
        for (offset, secret) in settings.secrets.enumerated() {
            let position = offset + 1
            guard !secret.isEmpty else { throw .emptySecret(position) }
            switch scheme {
            case .standardWebhooks:
                guard let key = Self.standardWebhooksKey(secret) else { throw .secretNotBase64(position) }
                guard key.count >= Self.minimumKeyBytes else {
                    throw .keyTooShort(position, minimum: Self.minimumKeyBytes)
                }
                decoded.append(key)
            case .hmacSHA256:
                guard secret.count >= Self.minimumSecretLength else {
                    throw .secretTooShort(position, minimum: Self.minimumSecretLength)
                }
                decoded.append(Array(secret.utf8))
            case .urlToken:
                guard Self.isURLSafe(secret) else { throw .tokenNotURLSafe(position) }
                guard secret.utf8.count >= Self.minimumTokenLength else {
                    throw .tokenTooShort(position, minimum: Self.minimumTokenLength)
                }
                decoded.append(Array(secret.utf8))
            case .none:
                break
            }
        }
        keys = decoded
    }

    /// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, or the whole secret
    /// when it has no prefix (as the reference library does). Padding is optional; anything else
    /// outside the standard alphabet, or an empty key, is `nil`.
    static func standardWebhooksKey(_ secret: String) -> [UInt8]? {
        let encoded = secret.hasPrefix(secretPrefix) ? String(secret.dropFirst(secretPrefix.count)) : secret
        guard let key = base64Decoded(encoded), !key.isEmpty else { return nil }
        return key
    }

    /// Standard (RFC 4648 §4) base64 with optional padding; `nil` on any other character.
    static func base64Decoded(_ text: some StringProtocol) -> [UInt8]? {
        var padded = String(text)
        // At most two `=`, and only at the end (Foundation would accept `YWJj====`).
        let unpadded = padded.utf8.reversed().drop { $0 == UInt8(ascii: "=") }
        guard padded.utf8.count - unpadded.count <= 2, !unpadded.contains(UInt8(ascii: "=")) else { return nil }
        switch padded.utf8.count % 4 {
        case 0: break
        case 2: padded += "=="
        case 3: padded += "="
        default: return nil
        }
        guard let data = Data(base64Encoded: padded) else { return nil }
        return Array(data)
    }

    /// Standard base64 with padding, as Standard Webhooks signatures are written.
    static func base64Encoded(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Whether `text` is non-empty and only letters, digits, `-` and `_` (RFC 4648 §5 alphabet),
    /// so that it can be a path segment without any escaping.
    static func isURLSafe(_ text: String) -> Bool {
        !text.isEmpty
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default: false
                }
            }
    }

    /// Whether `name` is an HTTP field name (an RFC 9110 token).
    static func isHeaderName(_ name: String) -> Bool {
        let extra = Array("!#$%&'*+-.^_`|~".utf8)
        return !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default: extra.contains(byte)
                }
            }
    }

    /// A Unix-seconds timestamp header: ASCII digits only (at most 12, which reaches past the
    /// year 33000), as the Standard Webhooks libraries write it.
    static func unixSeconds(_ text: String) -> Int64? {
        let utf8 = text.utf8
        guard (1...12).contains(utf8.count),
            utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        return Int64(text)
    }

    /// Whether `timestamp` lies within the tolerance of `now`, in either direction (inclusive).
    func isWithinTolerance(_ timestamp: Int64, now: Date) -> Bool {
        abs(Double(timestamp) - now.timeIntervalSince1970) <= toleranceSeconds
    }

    /// Names the scheme and counts the keys; never shows one.
    var description: String { "SignatureKeys(scheme: \(scheme.rawValue), keys: \(keys.count) (redacted))" }

    /// The same redacted text as `description`.
    var debugDescription: String { description }

    /// Reflection shows only the redacted description.
    var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
