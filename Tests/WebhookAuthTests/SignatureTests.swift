import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import WebhookAuth

/// One Standard Webhooks case produced by the reference implementation (see `Vectors/`).
struct StandardWebhooksVector: Sendable, CustomTestStringConvertible {
    let name: String
    let secrets: [String]
    let headers: [String: String]
    let body: String
    let now: Int64
    /// `verified`, or the ``SignatureFailure/reason`` expected.
    let expected: String

    var testDescription: String { name }
}

/// A case-insensitive header lookup over a dictionary, as HTTP libraries provide.
func headerLookup(_ headers: [String: String]) -> (String) -> String? {
    { name in headers.first { $0.key.lowercased() == name.lowercased() }?.value }
}

/// The reason of a verdict, or `verified`.
func outcome(_ verdict: SignatureVerdict) -> String {
    switch verdict {
    case .verified: "verified"
    case .rejected(let failure): failure.reason
    }
}

@Suite("Signature: standard-webhooks")
struct StandardWebhooksSignatureTests {
    @Test("reference implementation vectors", arguments: StandardWebhooksVector.reference)
    func referenceVectors(vector: StandardWebhooksVector) throws {
        let verifier = try WebhookVerifier(settings: SignatureSettings(secrets: vector.secrets))
        let verdict = verifier.verify(
            header: headerLookup(vector.headers), pathToken: nil, body: Array(vector.body.utf8),
            now: Date(timeIntervalSince1970: Double(vector.now)))
        #expect(outcome(verdict) == vector.expected)
        if vector.expected == "verified" {
            let id = headerLookup(vector.headers)("webhook-id") ?? headerLookup(vector.headers)("svix-id")
            #expect(verdict == .verified(deliveryID: id))
        }
    }

    @Test("the reference vectors cover every outcome")
    func vectorsCoverEveryOutcome() {
        let outcomes = Set(StandardWebhooksVector.reference.map(\.expected))
        #expect(
            outcomes == [
                "verified", "missing_headers", "malformed_header", "timestamp_outside_tolerance",
                "no_matching_signature",
            ])
    }

    @Test("the signer reproduces Svix's published signature")
    func signerMatchesPublishedExample() throws {
        let signer = try WebhookSigner(settings: SignatureSettings(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]))
        let signed = signer.sign(
            body: Array(#"{"test": 2432232314}"#.utf8), now: Date(timeIntervalSince1970: 1_614_265_330.9),
            deliveryID: "msg_p5jXN8AQM9LWM0D4loKWxJek")
        #expect(
            signed.headers == [
                .init(name: "webhook-id", value: "msg_p5jXN8AQM9LWM0D4loKWxJek"),
                .init(name: "webhook-timestamp", value: "1614265330"),
                .init(name: "webhook-signature", value: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
            ])
        #expect(signed.pathSuffix == nil)
    }

    @Test("a configurable tolerance is enforced in both directions, edges included")
    func configurableTolerance() throws {
        let settings = SignatureSettings(tolerance: .seconds(10), secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let signer = try WebhookSigner(settings: settings)
        let verifier = try WebhookVerifier(settings: settings)
        let body = Array("{}".utf8)
        let now = Date(timeIntervalSince1970: 1_742_205_600)
        for (skew, expected) in [
            (-11.0, "timestamp_outside_tolerance"), (-10, "verified"), (10, "verified"),
            (11, "timestamp_outside_tolerance"),
        ] {
            let signed = signer.sign(body: body, now: now.addingTimeInterval(skew), deliveryID: "msg_1")
            let headers = Dictionary(uniqueKeysWithValues: signed.headers.map { ($0.name, $0.value) })
            let verdict = verifier.verify(header: headerLookup(headers), pathToken: nil, body: body, now: now)
            #expect(outcome(verdict) == expected, "skew \(skew)")
        }
    }

    @Test(
        "malformed delivery ids and timestamps are refused before any MAC is computed",
        arguments: [
            ("msg 1", "1742205600"), (String(repeating: "a", count: 257), "1742205600"), ("msg_1", "1742205600.5"),
            ("msg_1", "-1742205600"), ("msg_1", "+1742205600"), ("msg_1", " 1742205600"),
            ("msg_1", "1234567890123"),
        ])
    func malformedHeaders(id: String, timestamp: String) throws {
        let settings = SignatureSettings(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let body = Array("{}".utf8)
        let signature = StandardWebhooksSignature.entry(
            key: try #require(SignatureKeys.standardWebhooksKey(settings.secrets[0])), id: id, timestamp: timestamp,
            body: body)
        let headers = ["webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature]
        let verdict = try WebhookVerifier(settings: settings).verify(
            header: headerLookup(headers), pathToken: nil, body: body, now: Date(timeIntervalSince1970: 1_742_205_600))
        #expect(verdict == .rejected(.malformedHeader))
    }

    @Test(
        "unreadable signature entries are skipped, a later good one still verifies",
        arguments: ["v1", "v1,", "v1,!!!!", "v1,YWJj", ",abc", "v1,,", "  "])
    func unreadableEntriesSkipped(junk: String) throws {
        let settings = SignatureSettings(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        let verifier = try WebhookVerifier(settings: settings)
        let now = Date(timeIntervalSince1970: 1_614_265_330)
        var headers = [
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
            "webhook-signature": "\(junk) \(good)",
        ]
        #expect(verifier.verify(header: headerLookup(headers), pathToken: nil, body: body, now: now).isVerified)
        headers["webhook-signature"] = junk
        let alone = verifier.verify(header: headerLookup(headers), pathToken: nil, body: body, now: now)
        #expect(alone == .rejected(.noMatchingSignature))
    }

    @Test("webhook- header names take precedence over svix- ones")
    func standardNamesWin() throws {
        let settings = SignatureSettings(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let headers = [
            "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "svix-id": "msg_other", "svix-timestamp": "1", "svix-signature": "v1,AAAA",
        ]
        let verdict = try WebhookVerifier(settings: settings).verify(
            header: headerLookup(headers), pathToken: nil, body: Array(#"{"test": 2432232314}"#.utf8),
            now: Date(timeIntervalSince1970: 1_614_265_330))
        #expect(verdict == .verified(deliveryID: "msg_p5jXN8AQM9LWM0D4loKWxJek"))
    }
}

@Suite("Signature: round trips and secrets")
struct SignatureRoundTripTests {
    @Test("what the signer produces, the verifier accepts", arguments: SignatureScheme.allCases)
    func roundTrip(scheme: SignatureScheme) throws {
        let secrets = [
            try WebhookSecretGenerator.generate(for: scheme), try WebhookSecretGenerator.generate(for: scheme),
        ]
        for timestampHeader in [nil, "X-Timestamp"] as [String?] {
            let settings = SignatureSettings(scheme: scheme, timestampHeader: timestampHeader, secrets: secrets)
            let body = Array(#"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"DryRunFailed"}"#.utf8)
            let now = Date(timeIntervalSince1970: 1_742_205_600)
            let signed = try WebhookSigner(settings: settings).sign(body: body, now: now, deliveryID: "msg_42")
            let headers = Dictionary(uniqueKeysWithValues: signed.headers.map { ($0.name, $0.value) })
            let verifier = try WebhookVerifier(settings: settings)
            let verdict = verifier.verify(
                header: headerLookup(headers), pathToken: signed.pathSuffix, body: body, now: now)
            #expect(verdict == .verified(deliveryID: scheme == .standardWebhooks ? "msg_42" : nil))
            if scheme != .none {
                let tampered = body + [UInt8(ascii: " ")]
                let forged = verifier.verify(
                    header: headerLookup(headers), pathToken: signed.pathSuffix.map { $0 + "x" }, body: tampered,
                    now: now)
                #expect(!forged.isVerified)
            }
        }
    }

    @Test("the second secret verifies but never signs")
    func firstSecretSigns() throws {
        let first = try WebhookSecretGenerator.generate(for: .standardWebhooks)
        let second = try WebhookSecretGenerator.generate(for: .standardWebhooks)
        let body = Array("{}".utf8)
        let now = Date(timeIntervalSince1970: 1_742_205_600)
        let signedBySecond = try WebhookSigner(settings: SignatureSettings(secrets: [second, first]))
            .sign(body: body, now: now, deliveryID: "msg_1")
        let headers = Dictionary(uniqueKeysWithValues: signedBySecond.headers.map { ($0.name, $0.value) })
        let onlyFirst = try WebhookVerifier(settings: SignatureSettings(secrets: [first]))
        let both = try WebhookVerifier(settings: SignatureSettings(secrets: [first, second]))
        #expect(
            onlyFirst.verify(header: headerLookup(headers), pathToken: nil, body: body, now: now)
                == .rejected(.noMatchingSignature))
        #expect(both.verify(header: headerLookup(headers), pathToken: nil, body: body, now: now).isVerified)
    }

    @Test("generated secrets: whsec_ and 32 random bytes; URL-safe for url-token")
    func generatedSecrets() throws {
        let standard = try WebhookSecretGenerator.generate(for: .standardWebhooks)
        #expect(standard.hasPrefix("whsec_"))
        #expect(standard.count == 6 + 44)
        #expect(SignatureKeys.standardWebhooksKey(standard)?.count == 32)
        #expect(standard != (try WebhookSecretGenerator.generate(for: .standardWebhooks)))

        let token = try WebhookSecretGenerator.generate(for: .urlToken)
        #expect(token.hasPrefix("whsec_"))
        #expect(token.count == 6 + 43)
        #expect(SignatureKeys.isURLSafe(token))
        let decoded = String(token.dropFirst(6)).replacingOccurrences(of: "-", with: "+")
            .replacingOccurrences(of: "_", with: "/")
        #expect(SignatureKeys.base64Decoded(decoded)?.count == 32)
    }

    @Test("descriptions and reflection never show a secret")
    func secretsAreRedacted() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let settings = SignatureSettings(secrets: [secret])
        let verifier = try WebhookVerifier(settings: settings)
        let signer = try WebhookSigner(settings: settings)
        var dumped = ""
        dump(settings, to: &dumped)
        dump(verifier, to: &dumped)
        dump(signer, to: &dumped)
        let texts = [
            String(describing: settings), String(reflecting: settings), String(describing: verifier),
            String(reflecting: verifier), String(describing: signer), String(reflecting: signer), dumped,
        ]
        for text in texts {
            #expect(!text.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "\(text)")
            #expect(!text.contains("31f290"), "key bytes in hex")
        }
        #expect(String(describing: settings).contains("1 (redacted)"))
    }
}

@Suite("Signature: hmac-sha256, url-token, none")
struct OtherSchemesTests {
    static let github = "It's a Secret to Everybody"
    static let githubMAC = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    /// HMAC-SHA256 of `1742205600.Hello, World!` under GitHub's example secret (Python's hmac).
    static let timestampedMAC = "3fcff950a91ca2dedac52defb98a7490c047cdd519f730573f0e1eb8554daab3"
    /// HMAC-SHA256 of `Hello, World!` under `whsec_second-secret` (Python's hmac).
    static let secondMAC = "5ddbac5bc32795b9ef94c296e11ac536af57ae36428bb4071f69d5d278b4466a"
    static let now = 1_742_205_600

    @Test(
        "hmac-sha256 without a timestamp header (GitHub style)",
        arguments: [
            ("GitHub's published vector", ["X-Signature-256": "sha256=\(githubMAC)"], "verified"),
            ("upper-case hex and prefix", ["x-signature-256": "SHA256=\(githubMAC.uppercased())"], "verified"),
            ("rotated: second secret", ["X-Signature-256": "sha256=\(secondMAC)"], "verified"),
            ("missing header", [:], "missing_headers"),
            ("empty header", ["X-Signature-256": ""], "missing_headers"),
            ("GitHub's other header name", ["X-Hub-Signature-256": "sha256=\(githubMAC)"], "missing_headers"),
            ("sha1 prefix", ["X-Signature-256": "sha1=\(githubMAC)"], "malformed_header"),
            ("no prefix", ["X-Signature-256": githubMAC], "malformed_header"),
            ("short hex", ["X-Signature-256": "sha256=\(githubMAC.dropLast(2))"], "malformed_header"),
            ("non-hex", ["X-Signature-256": "sha256=\(githubMAC.dropLast(2))zz"], "malformed_header"),
            ("one bit off", ["X-Signature-256": "sha256=\(githubMAC.dropLast())6"], "no_matching_signature"),
            (
                "timestamped MAC without timestamp", ["X-Signature-256": "sha256=\(timestampedMAC)"],
                "no_matching_signature"
            ),
        ] as [(String, [String: String], String)])
    func hmacWithoutTimestamp(name: String, headers: [String: String], expected: String) throws {
        let verifier = try WebhookVerifier(
            settings: SignatureSettings(scheme: .hmacSHA256, secrets: [Self.github, "whsec_second-secret"]))
        let verdict = verifier.verify(
            header: headerLookup(headers), pathToken: nil, body: Array("Hello, World!".utf8),
            now: Date(timeIntervalSince1970: 0))
        #expect(outcome(verdict) == expected, "\(name)")
    }

    @Test(
        "hmac-sha256 with a timestamp header signs {ts}.{body} and enforces the tolerance",
        arguments: [
            ("signed with timestamp", "\(now)", timestampedMAC, now, "verified"),
            ("at the past edge", "\(now)", timestampedMAC, now + 300, "verified"),
            ("expired", "\(now)", timestampedMAC, now + 301, "timestamp_outside_tolerance"),
            ("from the future", "\(now)", timestampedMAC, now - 301, "timestamp_outside_tolerance"),
            ("timestamp changed", "\(now + 1)", timestampedMAC, now, "no_matching_signature"),
            ("body-only MAC", "\(now)", githubMAC, now, "no_matching_signature"),
            ("timestamp not Unix seconds", "2025-03-17T10:00:00Z", timestampedMAC, now, "malformed_header"),
            ("timestamp missing", "", timestampedMAC, now, "missing_headers"),
        ] as [(String, String, String, Int, String)])
    func hmacWithTimestamp(name: String, timestamp: String, mac: String, now: Int, expected: String) throws {
        let verifier = try WebhookVerifier(
            settings: SignatureSettings(
                scheme: .hmacSHA256, header: "X-Hub-Signature-256", timestampHeader: "X-Webhook-Timestamp",
                secrets: [Self.github]))
        let headers = ["X-Hub-Signature-256": "sha256=\(mac)", "X-Webhook-Timestamp": timestamp]
        let verdict = verifier.verify(
            header: headerLookup(headers), pathToken: nil, body: Array("Hello, World!".utf8),
            now: Date(timeIntervalSince1970: Double(now)))
        #expect(outcome(verdict) == expected, "\(name)")
    }

    @Test(
        "url-token compares the last path segment with every secret",
        arguments: [
            ("first secret", "Tok-en_0123456789abcdef", "verified"),
            ("rotated: second secret", "second_token_0123456789", "verified"),
            ("wrong token", "Tok-en_0123456789abcdeF", "bad_token"),
            ("prefix of the token", "Tok-en_0123456789abcde", "bad_token"),
            ("token plus a character", "Tok-en_0123456789abcdefx", "bad_token"),
            ("empty segment", "", "bad_token"),
            ("percent-encoded form", "Tok%2Den_0123456789abcdef", "bad_token"),
        ])
    func urlToken(name: String, token: String, expected: String) throws {
        let verifier = try WebhookVerifier(
            settings: SignatureSettings(
                scheme: .urlToken, secrets: ["Tok-en_0123456789abcdef", "second_token_0123456789"]))
        let verdict = verifier.verify(header: { _ in nil }, pathToken: token, body: [UInt8](), now: Date())
        #expect(outcome(verdict) == expected, "\(name)")
        #expect(
            verifier.verify(header: { _ in nil }, pathToken: nil, body: [UInt8](), now: Date()) == .rejected(.badToken))
    }

    @Test("none verifies everything and needs no secret")
    func noneScheme() throws {
        let verifier = try WebhookVerifier(settings: SignatureSettings(scheme: .none))
        #expect(
            verifier.verify(header: { _ in nil }, pathToken: nil, body: Array("x".utf8), now: Date())
                == .verified(deliveryID: nil))
        let signed = try WebhookSigner(settings: SignatureSettings(scheme: .none)).sign(
            body: [], now: Date(), deliveryID: "m")
        #expect(signed.headers.isEmpty && signed.pathSuffix == nil)
    }
}

@Suite("Signature: configuration")
struct SignatureConfigurationTests {
    @Test(
        "settings that cannot work are refused with a reason that shows no secret",
        arguments: [
            (SignatureSettings(), "no_secret"),
            (SignatureSettings(scheme: .hmacSHA256), "no_secret"),
            (SignatureSettings(scheme: .urlToken), "no_secret"),
            (SignatureSettings(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""]), "empty_secret"),
            (SignatureSettings(secrets: ["whsec_"]), "secret_not_base64"),
            (SignatureSettings(secrets: ["whsec_not base64!"]), "secret_not_base64"),
            (SignatureSettings(secrets: ["whsec_YWJj===="]), "secret_not_base64"),
            (SignatureSettings(secrets: ["whsec_YWJjZ"]), "secret_not_base64"),
            (SignatureSettings(secrets: ["whsec_YW-_ZA"]), "secret_not_base64"),
            (SignatureSettings(scheme: .urlToken, secrets: ["abc/def_0123456789abcdef"]), "token_not_url_safe"),
            (SignatureSettings(scheme: .urlToken, secrets: ["abc.def_0123456789abcdef"]), "token_not_url_safe"),
            (SignatureSettings(scheme: .urlToken, secrets: ["tök-en_0123456789abcdef"]), "token_not_url_safe"),
            (SignatureSettings(scheme: .urlToken, secrets: ["tok en_0123456789abcdef"]), "token_not_url_safe"),
            (SignatureSettings(scheme: .urlToken, secrets: ["whsec_YWJj+ZA=0123456789"]), "token_not_url_safe"),
            (SignatureSettings(scheme: .urlToken, secrets: ["short-token"]), "token_too_short"),
            (SignatureSettings(scheme: .hmacSHA256, header: "X Signature", secrets: ["s3cr3t"]), "invalid_header_name"),
            (SignatureSettings(scheme: .hmacSHA256, header: "", secrets: ["s3cr3t"]), "invalid_header_name"),
            (
                SignatureSettings(scheme: .hmacSHA256, timestampHeader: "X-TS:", secrets: ["s3cr3t"]),
                "invalid_header_name"
            ),
            (SignatureSettings(tolerance: .zero, secrets: ["whsec_YWJj"]), "invalid_tolerance"),
            // A key under 16 bytes, or an hmac secret under 16 characters, is guessable.
            (SignatureSettings(secrets: ["whsec_YWJj"]), "key_too_short"),
            (SignatureSettings(secrets: ["whsec_MDEyMzQ1Njc4OWFiY2Rl"]), "key_too_short"),  // 15 bytes
            (SignatureSettings(scheme: .hmacSHA256, secrets: ["s3cr3t"]), "secret_too_short"),
            (SignatureSettings(scheme: .hmacSHA256, secrets: ["0123456789abcde"]), "secret_too_short"),
        ] as [(SignatureSettings, String)])
    func refused(settings: SignatureSettings, reason: String) {
        do {
            _ = try WebhookVerifier(settings: settings)
            Issue.record("accepted \(settings)")
        } catch {
            #expect(error.reason == reason)
            for secret in settings.secrets where secret.count > 6 {
                let key = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
                #expect(!error.description.contains(secret))
                #expect(key.count < 4 || !error.description.contains(key))
            }
        }
        #expect(throws: SignatureConfigurationError.self) { try WebhookSigner(settings: settings) }
    }

    @Test("the error names the secret by position")
    func positionInMessage() {
        #expect(throws: SignatureConfigurationError.self) {
            try WebhookVerifier(settings: SignatureSettings(secrets: ["whsec_MDEyMzQ1Njc4OWFiY2RlZg==", "whsec_%%%"]))
        }
        do {
            _ = try WebhookVerifier(
                settings: SignatureSettings(secrets: ["whsec_MDEyMzQ1Njc4OWFiY2RlZg==", "whsec_%%%"]))
        } catch {
            #expect(error.description.contains("secret 2"))
            #expect(!error.description.contains("%%%"))
        }
    }

    @Test(
        "accepted secrets",
        arguments: [
            SignatureSettings(secrets: ["whsec_MDEyMzQ1Njc4OWFiY2RlZg"]),  // 16 bytes, no padding
            SignatureSettings(secrets: ["MDEyMzQ1Njc4OWFiY2RlZmdo"]),  // no prefix
            SignatureSettings(secrets: ["whsec_MDEyMzQ1Njc4OWFiY2RlZg=="]),
            SignatureSettings(scheme: .hmacSHA256, secrets: ["any text, even with spaces & ü"]),
            SignatureSettings(scheme: .hmacSHA256, secrets: ["0123456789abcdef"]),
            SignatureSettings(scheme: .urlToken, secrets: ["whsec_abc-DEF_0123456789"]),
            SignatureSettings(scheme: .none, tolerance: .zero, secrets: []),
        ])
    func accepted(settings: SignatureSettings) throws {
        let verifier = try WebhookVerifier(settings: settings)
        #expect(verifier.scheme == settings.scheme)
    }
}
