import Foundation
import RetryCore

/// What a sender adds to a request so that the agent authenticates it.
public struct SignedDelivery: Sendable, Hashable {
    /// One request header.
    public struct Header: Sendable, Hashable {
        /// The header name, as the scheme spells it.
        public var name: String
        /// The header value.
        public var value: String
    }

    /// Headers to send (none for `url-token` and `none`).
    public var headers: [Header]
    /// The path segment to append to the webhook path (`/webhooks/hdp/<token>`), `url-token` only.
    public var pathSuffix: String?
}

/// Signs deliveries the way ``WebhookVerifier`` checks them, with the first configured secret.
///
/// The `send` command uses it for its smoke test, and tests use it to produce deliveries; it
/// follows SPEC §3 so that it doubles as the reference for how a sender signs.
public struct WebhookSigner: Sendable, CustomStringConvertible {
    private let keys: SignatureKeys

    /// Validates `settings` exactly as the verifier does.
    public init(settings: SignatureSettings) throws(SignatureConfigurationError) {
        keys = try SignatureKeys(settings: settings)
    }

    /// The headers (and, for `url-token`, the path segment) that authenticate `body`.
    ///
    /// - Parameters:
    ///   - body: the exact bytes that will be sent.
    ///   - now: the signing time; its Unix seconds (rounded down) become the timestamp.
    ///   - deliveryID: the `webhook-id` (`standard-webhooks` only), unique per delivery and reused
    ///     on redelivery so that the agent recognises a duplicate.
    public func sign(body: some Collection<UInt8>, now: Date, deliveryID: String) -> SignedDelivery {
        let timestamp = String(Int64(now.timeIntervalSince1970.rounded(.down)))
        guard let key = keys.keys.first else { return SignedDelivery(headers: [], pathSuffix: nil) }
        switch keys.scheme {
        case .standardWebhooks:
            let signature = StandardWebhooksSignature.entry(key: key, id: deliveryID, timestamp: timestamp, body: body)
            return SignedDelivery(
                headers: [
                    .init(name: "webhook-id", value: deliveryID),
                    .init(name: "webhook-timestamp", value: timestamp),
                    .init(name: "webhook-signature", value: signature),
                ],
                pathSuffix: nil)
        case .hmacSHA256:
            var headers = [SignedDelivery.Header]()
            var content = [UInt8]()
            if let timestampHeader = keys.timestampHeader {
                headers.append(.init(name: timestampHeader, value: timestamp))
                content.append(contentsOf: "\(timestamp).".utf8)
            }
            content.append(contentsOf: body)
            let mac = Crypto.hexEncoded(Crypto.hmacSHA256(key: key, data: content))
            headers.append(.init(name: keys.header, value: "sha256=" + mac))
            return SignedDelivery(headers: headers, pathSuffix: nil)
        case .urlToken:
            return SignedDelivery(headers: [], pathSuffix: String(decoding: key, as: UTF8.self))
        case .none:
            return SignedDelivery(headers: [], pathSuffix: nil)
        }
    }

    /// Names the scheme only; the keys never appear.
    public var description: String { "WebhookSigner(scheme: \(keys.scheme.rawValue))" }
}

/// Generates new webhook secrets (the agent's first start without one, and operators rotating).
public enum WebhookSecretGenerator {
    /// Random bytes in a generated secret: 256 bits, the HMAC-SHA256 block-size sweet spot.
    public static let randomByteCount = 32

    /// A new secret usable with `scheme`.
    ///
    /// Always `whsec_` followed by 32 random bytes from OpenSSL, so every generated secret looks
    /// alike and greps alike:
    /// - `standard-webhooks`, `hmac-sha256`, `none`: standard base64 with padding (44 characters),
    ///   the format the Standard Webhooks libraries expect. `hmac-sha256` uses the whole text as
    ///   written as its key.
    /// - `url-token`: base64url without padding (43 characters), because `+`, `/` and `=` do not
    ///   belong in a path segment; `whsec_` is URL-safe, so the whole secret is the token.
    public static func generate(for scheme: SignatureScheme) throws(CryptoError) -> String {
        let bytes = try Crypto.randomBytes(count: randomByteCount)
        let standard = SignatureKeys.base64Encoded(bytes)
        switch scheme {
        case .urlToken:
            let urlSafe =
                standard
                .replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            return SignatureKeys.secretPrefix + urlSafe
        case .standardWebhooks, .hmacSHA256, .none:
            return SignatureKeys.secretPrefix + standard
        }
    }
}
