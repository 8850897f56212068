import Foundation
import RetryCore
import RetryTesting
import Testing

@testable import WebhookAuth

/// A header sent twice reaches the agent as one value joined with ", " (proxies and HTTP
/// libraries combine repeated fields). The genuine entry must still verify; nothing else may.
/// Before, a joined `webhook-signature` left a trailing comma on the first entry (skipped as
/// unreadable) and a joined `webhook-id` was refused as malformed: 401 for a genuine delivery.
@Suite("Signature: repeated headers")
struct RepeatedHeaderTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let body = Array(#"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"AtlanticProvingFailed"}"#.utf8)
    static let now = Date(timeIntervalSince1970: 1_742_205_600)

    static func entry(id: String, timestamp: String = "1742205600", secret: String = Self.secret) throws -> String {
        StandardWebhooksSignature.entry(
            key: try #require(SignatureKeys.standardWebhooksKey(secret)), id: id, timestamp: timestamp, body: body)
    }

    static func verify(_ headers: [String: String]) throws -> SignatureVerdict {
        try WebhookVerifier(settings: SignatureSettings(secrets: [secret])).verify(
            header: headerLookup(headers), pathToken: nil, body: body, now: now)
    }

    @Test func aSignatureHeaderSentTwiceVerifiesTheGenuineEntry() throws {
        let genuine = try Self.entry(id: "msg_1")
        let forged = try Self.entry(id: "msg_1", secret: "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCBhdCBhbGwh")
        for joined in ["\(genuine), \(forged)", "\(forged), \(genuine)", "\(genuine),\(forged)"] {
            let verdict = try Self.verify([
                "webhook-id": "msg_1", "webhook-timestamp": "1742205600", "webhook-signature": joined,
            ])
            #expect(verdict == .verified(deliveryID: "msg_1"), "\(joined)")
        }
        #expect(
            try Self.verify([
                "webhook-id": "msg_1", "webhook-timestamp": "1742205600", "webhook-signature": "\(forged), \(forged)",
            ])
                == .rejected(.noMatchingSignature))
    }

    @Test func anIDAndATimestampSentTwiceVerify() throws {
        let signature = try Self.entry(id: "msg_1")
        #expect(
            try Self.verify([
                "webhook-id": "msg_1, msg_1", "webhook-timestamp": "1742205600, 1742205600",
                "webhook-signature": signature,
            ]) == .verified(deliveryID: "msg_1"))
        // Two different ids: the one the signature is over is the delivery's id.
        #expect(
            try Self.verify([
                "webhook-id": "msg_evil, msg_1", "webhook-timestamp": "1742205600", "webhook-signature": signature,
            ]) == .verified(deliveryID: "msg_1"))
        // An id that holds a comma itself still verifies as written.
        let commaSigned = try Self.entry(id: "a,b")
        #expect(
            try Self.verify(["webhook-id": "a,b", "webhook-timestamp": "1742205600", "webhook-signature": commaSigned])
                == .verified(deliveryID: "a,b"))
    }

    @Test func anHMACHeaderSentTwiceVerifiesTheGenuineValue() throws {
        let secret = "0123456789abcdef-hmac"
        let settings = SignatureSettings(scheme: .hmacSHA256, secrets: [secret])
        let mac = "sha256=" + Crypto.hexEncoded(Crypto.hmacSHA256(key: Array(secret.utf8), data: Self.body))
        let wrong = "sha256=" + String(repeating: "0", count: 64)
        let verifier = try WebhookVerifier(settings: settings)
        let joined = verifier.verify(
            header: headerLookup(["X-Signature-256": "\(wrong), \(mac)"]), pathToken: nil, body: Self.body,
            now: Self.now)
        #expect(joined == .verified(deliveryID: nil))
        let bothWrong = verifier.verify(
            header: headerLookup(["X-Signature-256": "\(wrong), \(wrong)"]), pathToken: nil, body: Self.body,
            now: Self.now)
        #expect(bothWrong == .rejected(.noMatchingSignature))
    }
}
