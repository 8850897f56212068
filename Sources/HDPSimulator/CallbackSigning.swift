import Foundation

/// Signs one failure callback: given the exact body bytes, the delivery id (`msg_…`) and the Unix
/// time of the delivery in seconds, returns the headers to send with it. HDP itself signs nothing;
/// a signer lets the simulator stand in for a relay that does, so the agent's default scheme can be
/// tested end to end. A closure rather than a protocol because it is one small hook.
public typealias CallbackSigner = @Sendable (_ body: [UInt8], _ id: String, _ timestamp: Int64) -> CallbackHeaders

/// Header names and values, in the order they are sent.
public typealias CallbackHeaders = [(name: String, value: String)]

/// HMAC-SHA256 of `message` keyed with `key`: the one primitive a signer needs, supplied by the
/// embedder (the simulator library carries no cryptography of its own).
public typealias CallbackHMAC = @Sendable (_ key: [UInt8], _ message: [UInt8]) -> [UInt8]

/// Signing of failure callbacks: Standard Webhooks (<https://www.standardwebhooks.com>), as the
/// agent verifies it.
public enum CallbackSigning {
    /// A signer that sends `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, where the
    /// key is the base64-decoded part of `secret` after `whsec_` (the prefix may be left out).
    /// Throws when the secret does not decode to at least one byte.
    public static func standardWebhooks(
        secret: String, hmacSHA256: @escaping CallbackHMAC
    ) throws(SimulatorError) -> CallbackSigner {
        let key = try self.key(fromSecret: secret)
        return { body, id, timestamp in
            let mac = hmacSHA256(key, signedContent(body: body, id: id, timestamp: timestamp))
            return [
                ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", "v1," + Data(mac).base64EncodedString()),
            ]
        }
    }

    /// The key a `whsec_` secret stands for: the bytes its base64 part decodes to.
    public static func key(fromSecret secret: String) throws(SimulatorError) -> [UInt8] {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst("whsec_".count)) : secret
        guard let key = Data(base64Encoded: encoded), !key.isEmpty else {
            throw SimulatorError.invalidWebhook("a webhook secret must be whsec_ and base64 of at least one byte")
        }
        return Array(key)
    }

    /// What is signed: `{id}.{timestamp}.{body}`, the body byte for byte.
    public static func signedContent(body: [UInt8], id: String, timestamp: Int64) -> [UInt8] {
        Array("\(id).\(timestamp).".utf8) + body
    }
}
