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
    ///
    /// A header sent twice reaches the agent as one value joined with `, ` (RFC 9110 §5.3), the
    /// way proxies and HTTP libraries combine repeated fields. Each part is tried: the genuine
    /// id, timestamp and signature still verify, and nothing that does not verify gets through.
    private func verifyStandardWebhooks(
        header: (String) -> String?, body: some Collection<UInt8>, now: Date
    ) -> SignatureVerdict {
        func first(_ names: [String]) -> String? {
            for name in names {
                if let value = header(name), !value.isEmpty { return value }
            }
            return nil
        }
        guard let idText = first(Self.idHeaders), let timestampText = first(Self.timestampHeaders),
            let signatureList = first(Self.signatureHeaders)
        else { return .rejected(.missingHeaders) }
        let ids = Self.joinedValues(idText).filter(Self.isPlausibleDeliveryID)
        let timestamps = Self.joinedValues(timestampText).compactMap(SignatureKeys.unixSeconds)
        guard !ids.isEmpty, !timestamps.isEmpty else { return .rejected(.malformedHeader) }
        let current = timestamps.filter { keys.isWithinTolerance($0, now: now) }
        guard !current.isEmpty else { return .rejected(.timestampOutsideTolerance) }

        let candidates = Self.versionOneSignatures(in: signatureList)
        for id in ids {
            for timestamp in current {
                // The reference libraries sign the parsed number, so `0161…` is signed as `161…`.
                let canonicalTimestamp = String(timestamp)
                for key in keys.keys {
                    let mac = StandardWebhooksSignature.mac(key: key, id: id, timestamp: canonicalTimestamp, body: body)
                    for candidate in candidates where Crypto.constantTimeEquals(mac, candidate) {
                        return .verified(deliveryID: id)
                    }
                }
            }
        }
        return .rejected(.noMatchingSignature)
    }

    /// The readings of a header value that may be several values joined with `,`: the whole value
    /// first (a value may itself hold a comma), then each part; at most four in all, so a crafted
    /// header cannot multiply the work. Each trimmed, empty ones and repeats dropped.
    static func joinedValues(_ value: String) -> [String] {
        var parts = [value]
        guard value.utf8.contains(UInt8(ascii: ",")) else { return parts }
        for part in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true)
        where parts.count < 4 {
            let trimmed = String(decoding: Array(part), as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if !trimmed.isEmpty, !parts.contains(trimmed) { parts.append(trimmed) }
        }
        return parts
    }

    /// `sha256=<hex>` over the raw body, or over `{ts}.{raw body}` when a timestamp header is
    /// configured. A header sent twice (joined with `, `) is tried part by part.
    private func verifyHMAC(header: (String) -> String?, body: some Collection<UInt8>, now: Date) -> SignatureVerdict {
        guard let value = header(keys.header), !value.isEmpty else { return .rejected(.missingHeaders) }
        var prefixes: [[UInt8]] = [[]]
        if let timestampHeader = keys.timestampHeader {
            guard let timestampText = header(timestampHeader), !timestampText.isEmpty else {
                return .rejected(.missingHeaders)
            }
            let timestamps = Self.joinedValues(timestampText).filter { SignatureKeys.unixSeconds($0) != nil }
            guard !timestamps.isEmpty else { return .rejected(.malformedHeader) }
            let current = timestamps.filter { keys.isWithinTolerance(SignatureKeys.unixSeconds($0)!, now: now) }
            guard !current.isEmpty else { return .rejected(.timestampOutsideTolerance) }
            prefixes = current.map { Array("\($0).".utf8) }
        }
        let scheme = "sha256="
        let candidates = Self.joinedValues(value).compactMap { part -> [UInt8]? in
            guard part.utf8.count == scheme.utf8.count + 2 * Crypto.sha256Length,
                part.prefix(scheme.count).lowercased() == scheme
            else { return nil }
            return Crypto.hexDecoded(part.dropFirst(scheme.count))
        }
        guard !candidates.isEmpty else { return .rejected(.malformedHeader) }
        for prefix in prefixes {
            let content = prefix + Array(body)
            for key in keys.keys {
                let mac = Crypto.hmacSHA256(key: key, data: content)
                for candidate in candidates where Crypto.constantTimeEquals(mac, candidate) {
                    return .verified(deliveryID: nil)
                }
            }
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
    ///
    /// The list is read as a run of `version,signature` pairs separated by spaces or commas, so a
    /// list joined from two headers (`v1,AAA, v1,BBB` or `v1,AAA,v1,BBB`) reads the same as one:
    /// base64 never holds a space or a comma, and a signature is never a short version word.
    static func versionOneSignatures(in list: String) -> [[UInt8]] {
        // Split on the bytes, not on characters: a space or comma followed by a combining mark is
        // one `Character`, and would otherwise glue two entries into one.
        let tokens = list.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ",") })
            .map { Substring(String(decoding: Array($0), as: UTF8.self)) }
        var signatures: [[UInt8]] = []
        var index = 0
        while index < tokens.count {
            let token = tokens[index]
            // A version word followed by another version word has lost its signature (`v1 v1,AAA`).
            guard isVersion(token), index + 1 < tokens.count, !isVersion(tokens[index + 1]) else {
                index += 1
                continue
            }
            if token == "v1", let bytes = SignatureKeys.base64Decoded(tokens[index + 1]),
                bytes.count == Crypto.sha256Length
            {
                signatures.append(bytes)
            }
            index += 2
        }
        return signatures
    }

    /// `v` and up to seven letters or digits: a signature version (`v1`, `v1a`, `v2`).
    private static func isVersion(_ token: Substring) -> Bool {
        token.count <= 8 && token.first == "v"
            && token.dropFirst().allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
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
