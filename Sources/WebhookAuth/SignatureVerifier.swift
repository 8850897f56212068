import Foundation
import RetryCore

/// Authenticates webhook deliveries with the configured scheme (SPEC §3, "Authentication schemes").
///
/// It works on the raw body bytes, before any parsing, so that a signature over the same JSON
/// written differently (re-serialised, whitespace changed) never verifies. Signatures and tokens
/// are compared in constant time. A rejection carries a reason for metrics and logs only, and
/// nothing derived from a secret or from the expected MAC.
///
/// Every configured secret verifies, so secrets can be rotated without losing deliveries.
public struct WebhookVerifier: Sendable, CustomStringConvertible {
    /// `webhook-id`, then Svix's `svix-id`: the Standard Webhooks names win when both are sent.
    static let idHeaders = ["webhook-id", "svix-id"]
    /// `webhook-timestamp`, then Svix's `svix-timestamp`.
    static let timestampHeaders = ["webhook-timestamp", "svix-timestamp"]
    /// `webhook-signature`, then Svix's `svix-signature`.
    static let signatureHeaders = ["webhook-signature", "svix-signature"]
    /// The longest delivery id accepted: it becomes a dedup key in the journal.
    static let maximumDeliveryIDLength = 256

    private let keys: SignatureKeys

    /// Validates `settings` once, at start-up or reload, so that a bad secret is reported then and
    /// not discovered on the first delivery.
    public init(settings: SignatureSettings) throws(SignatureConfigurationError) {
        keys = try SignatureKeys(settings: settings)
    }

    /// The scheme this verifier enforces.
    public var scheme: SignatureScheme { keys.scheme }

    /// Authenticates one delivery.
    ///
    /// - Parameters:
    ///   - header: looks a request header up by name, case-insensitively (the caller's HTTP
    ///     library does that); `nil` when absent.
    ///   - pathToken: the last path segment after the webhook path (`url-token` only), `nil` when
    ///     the request went to the bare path.
    ///   - body: the raw request body, exactly as received.
    ///   - now: the agent's clock, for the timestamp tolerance.
    public func verify(
        header: (String) -> String?, pathToken: String?, body: some Collection<UInt8>, now: Date
    ) -> SignatureVerdict {
        switch keys.scheme {
        case .standardWebhooks: verifyStandardWebhooks(header: header, body: body, now: now)
        case .hmacSHA256: verifyHMAC(header: header, body: body, now: now)
        case .urlToken: verifyToken(pathToken)
        case .none: .verified(deliveryID: nil)
        }
    }

    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` (or the `svix-` names), with the
    /// signed content `{id}.{timestamp}.{raw body}`.
    private func verifyStandardWebhooks(
        header: (String) -> String?, body: some Collection<UInt8>, now: Date
    ) -> SignatureVerdict {
        func first(_ names: [String]) -> String? {
            for name in names {
                if let value = header(name), !value.isEmpty { return value }
            }
            return nil
        }
        guard let id = first(Self.idHeaders), let timestampText = first(Self.timestampHeaders),
            let signatureList = first(Self.signatureHeaders)
        else { return .rejected(.missingHeaders) }
        guard Self.isPlausibleDeliveryID(id), let timestamp = SignatureKeys.unixSeconds(timestampText) else {
            return .rejected(.malformedHeader)
        }
        guard keys.isWithinTolerance(timestamp, now: now) else { return .rejected(.timestampOutsideTolerance) }

        // The reference libraries sign the parsed number, so `0161…` is signed as `161…`.
        let canonicalTimestamp = String(timestamp)
        let expected = keys.keys.map { key in
            StandardWebhooksSignature.mac(key: key, id: id, timestamp: canonicalTimestamp, body: body)
        }
        for candidate in Self.versionOneSignatures(in: signatureList) {
            for mac in expected where Crypto.constantTimeEquals(mac, candidate) {
                return .verified(deliveryID: id)
            }
        }
        return .rejected(.noMatchingSignature)
    }

    /// `sha256=<hex>` over the raw body, or over `{ts}.{raw body}` when a timestamp header is
    /// configured.
    private func verifyHMAC(header: (String) -> String?, body: some Collection<UInt8>, now: Date) -> SignatureVerdict {
        guard let value = header(keys.header), !value.isEmpty else { return .rejected(.missingHeaders) }
        var prefix = [UInt8]()
        if let timestampHeader = keys.timestampHeader {
            guard let timestampText = header(timestampHeader), !timestampText.isEmpty else {
                return .rejected(.missingHeaders)
            }
            guard let timestamp = SignatureKeys.unixSeconds(timestampText) else { return .rejected(.malformedHeader) }
            guard keys.isWithinTolerance(timestamp, now: now) else {
                return .rejected(.timestampOutsideTolerance)
            }
            prefix = Array("\(timestampText).".utf8)
        }
        let scheme = "sha256="
        guard value.utf8.count == scheme.utf8.count + 2 * Crypto.sha256Length,
            value.prefix(scheme.count).lowercased() == scheme,
            let candidate = Crypto.hexDecoded(value.dropFirst(scheme.count))
        else { return .rejected(.malformedHeader) }

        let content = prefix + Array(body)
        for key in keys.keys where Crypto.constantTimeEquals(Crypto.hmacSHA256(key: key, data: content), candidate) {
            return .verified(deliveryID: nil)
        }
        return .rejected(.noMatchingSignature)
    }

    /// The path token against every secret, each compared in constant time.
    private func verifyToken(_ pathToken: String?) -> SignatureVerdict {
        guard let pathToken, !pathToken.isEmpty else { return .rejected(.badToken) }
        let candidate = Array(pathToken.utf8)
        var matched = false
        // No early exit: the time taken does not tell which secret, if any, matched.
        for key in keys.keys where Crypto.constantTimeEquals(key, candidate) {
            matched = true
        }
        return matched ? .verified(deliveryID: nil) : .rejected(.badToken)
    }

    /// The decoded `v1` signatures of a `webhook-signature` list. Entries of other versions
    /// (`v1a`, `v2`, …) and entries that cannot be read are skipped, as the reference libraries do.
    static func versionOneSignatures(in list: String) -> [[UInt8]] {
        list.split(separator: " ", omittingEmptySubsequences: true).compactMap { entry in
            guard let comma = entry.firstIndex(of: ","), entry[..<comma] == "v1" else { return nil }
            guard let bytes = SignatureKeys.base64Decoded(entry[entry.index(after: comma)...]),
                bytes.count == Crypto.sha256Length
            else { return nil }
            return bytes
        }
    }

    /// A delivery id is kept as a dedup key: at most 256 printable ASCII characters.
    static func isPlausibleDeliveryID(_ id: String) -> Bool {
        id.utf8.count <= maximumDeliveryIDLength
            && id.utf8.allSatisfy { (UInt8(ascii: "!")...UInt8(ascii: "~")).contains($0) }
    }

    /// Names the scheme only; the keys never appear.
    public var description: String { "WebhookVerifier(scheme: \(keys.scheme.rawValue))" }
}

/// The Standard Webhooks signature algorithm, shared by the verifier, the signer and the tests.
enum StandardWebhooksSignature {
    /// HMAC-SHA256 under `key` of `{id}.{timestamp}.{body}`.
    static func mac(key: [UInt8], id: String, timestamp: String, body: some Collection<UInt8>) -> [UInt8] {
        var content = Array("\(id).\(timestamp).".utf8)
        content.append(contentsOf: body)
        return Crypto.hmacSHA256(key: key, data: content)
    }

    /// One `webhook-signature` entry: `v1,<base64 of the MAC>`.
    static func entry(key: [UInt8], id: String, timestamp: String, body: some Collection<UInt8>) -> String {
        "v1," + SignatureKeys.base64Encoded(mac(key: key, id: id, timestamp: timestamp, body: body))
    }
}
