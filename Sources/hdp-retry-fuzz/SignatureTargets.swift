import Foundation
import RetryCore
import WebhookAuth

/// `signature-standard-webhooks`, `signature-hmac-sha256` and `signature-url-token`: each scheme's
/// header parsing and verification against fixed secrets, at a fixed time.
///
/// Every harness checks the verifier against SPEC §3 written out here independently:
/// - soundness: a delivery is accepted only if one reading of its headers (the whole value, or one
///   part of a value that a repeated header joined with `, `) carries a MAC, under one of the
///   secrets, of exactly the content the scheme signs, with a timestamp within the tolerance; so a
///   random header with a random body is never accepted, and the delivery id handed on is one that
///   was signed;
/// - a delivery without one of the scheme's headers is refused as `missing_headers`, and one with
///   all of them never is;
/// - completeness: a correctly signed delivery built from the input (its body, its delivery id, a
///   time within the tolerance, the input's own signature entries kept around the right one, the
///   header names in any case) is accepted, and refused once its body or its time is off;
/// - the product's own signer produces deliveries its verifier accepts.
enum SignatureTargets {
    /// The verifier's clock: 2025-11-30T00:00:00Z.
    static let now = Date(timeIntervalSince1970: 1_764_460_800)
    static let tolerance: Int64 = 300

    static func verifier(_ settings: SignatureSettings) -> WebhookVerifier {
        do {
            return try WebhookVerifier(settings: settings)
        } catch {
            fatalError("the fuzz settings are invalid: \(error)")
        }
    }

    static func signer(_ settings: SignatureSettings) -> WebhookSigner {
        do {
            return try WebhookSigner(settings: settings)
        } catch {
            fatalError("the fuzz settings are invalid: \(error)")
        }
    }

    /// Whether `text` is 1 to 12 ASCII digits whose value lies within the tolerance of ``now``.
    static func timestamp(_ text: String) -> (value: Int64, inTolerance: Bool)? {
        guard (1...12).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) }),
            let value = Int64(text)
        else { return nil }
        return (value, abs(value - Int64(now.timeIntervalSince1970)) <= tolerance)
    }

    /// Standard base64, padding optional (what SPEC §3 and the reference libraries accept).
    static func base64(_ text: Substring) -> [UInt8]? {
        var padded = String(text)
        while padded.utf8.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map(Array.init)
    }

    /// Every way a header value can be read: as a whole, and each comma-separated part trimmed
    /// (what a repeated header looks like once joined). A superset of what the verifier tries.
    static func readings(_ value: String) -> [String] {
        [value]
            + value.utf8.split(separator: UInt8(ascii: ",")).map {
                String(decoding: Array($0), as: UTF8.self).trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
    }

    /// The verdict in words, for violation messages.
    static func describe(_ verdict: SignatureVerdict) -> String {
        switch verdict {
        case .verified(let id): "verified (delivery id \(id.map(shown) ?? "none"))"
        case .rejected(let failure): "rejected (\(failure.reason))"
        }
    }

    /// What a signer's headers look like to the verifier.
    static func delivery(_ signed: SignedDelivery, body: [UInt8]) -> FuzzDelivery {
        FuzzDelivery(fields: signed.headers.map { ($0.name, $0.value) }, body: body)
    }
}

// MARK: - standard-webhooks

extension SignatureTargets {
    static let standardWebhooks = FuzzTarget(
        name: "signature-standard-webhooks",
        summary: "Standard Webhooks / Svix headers: id, timestamp, v1 signature list; sign and verify",
        maximumLength: 2048,
        run: runStandardWebhooks)

    /// Two secrets, as during a rotation; both verify.
    static let standardSecrets = [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_3FPzqTxb5yUPyqmFWVpR6s9iPzv1XPfYHqsDB+2ufwo=",
    ]
    static let standardKeys = standardSecrets.compactMap { base64($0.dropFirst(6)) }
    static let standardVerifier = verifier(.init(scheme: .standardWebhooks, secrets: standardSecrets))

    static let webhookNames = ["webhook-id", "webhook-timestamp", "webhook-signature"]
    static let svixNames = ["svix-id", "svix-timestamp", "svix-signature"]
    static let idNames = ["webhook-id", "svix-id"]
    static let timestampNames = ["webhook-timestamp", "svix-timestamp"]
    static let signatureNames = ["webhook-signature", "svix-signature"]

    /// Whether SPEC §3 lets `delivery` through with `id` as its delivery id.
    static func standardSigned(_ delivery: FuzzDelivery, id: String) -> Bool {
        guard let idText = delivery.firstNonEmpty(idNames), let timestampText = delivery.firstNonEmpty(timestampNames),
            let list = delivery.firstNonEmpty(signatureNames)
        else { return false }
        // The delivery id becomes a dedup key: at most 256 printable ASCII characters.
        guard readings(idText).contains(id), id.utf8.count <= 256, id.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else { return false }
        // The list as SPEC §3 and the repeated-header rule read it: entries are `v1,<base64>`
        // separated by spaces, and a repeated header joins its values with `, `. So the words
        // between spaces and commas (split on the bytes: " \u{344}" is one Character) are read,
        // and a MAC counts when the word before it is exactly `v1` (stray separators, such as a
        // leading comma, do not matter; an unknown version such as `v1a` never counts).
        let words = list.utf8.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ",") })
            .map { String(decoding: Array($0), as: UTF8.self) }
        let entries = zip(words, words.dropFirst()).compactMap { version, value -> [UInt8]? in
            version == "v1" ? base64(Substring(value)) : nil
        }
        for text in readings(timestampText) {
            guard let timestamp = timestamp(text), timestamp.inTolerance else { continue }
            // The reference libraries sign the timestamp as a number: `0161…` is signed as `161…`.
            let content = Array("\(id).\(timestamp.value).".utf8) + delivery.body
            for key in standardKeys where entries.contains(Crypto.hmacSHA256(key: key, data: content)) {
                return true
            }
        }
        return false
    }

    static func runStandardWebhooks(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        let fuzzed = FuzzDelivery(bytes)
        let verdict = standardVerifier.verify(header: fuzzed.header, pathToken: nil, body: fuzzed.body, now: now)
        if case .verified(let id) = verdict {
            try require(
                id.map { standardSigned(fuzzed, id: $0) } == true,
                "verified a delivery that is not signed: id \(shown(id))")
        }
        let complete = [idNames, timestampNames, signatureNames].allSatisfy { fuzzed.firstNonEmpty($0) != nil }
        try require(
            (verdict == .rejected(.missingHeaders)) == !complete,
            "\(describe(verdict)) with \(complete ? "all" : "not all") of the headers")

        // A correctly signed delivery built from the input: its id when usable, a time within the
        // tolerance, one of the secrets, the Standard Webhooks or the Svix header names, and the
        // input's own signature entries (other versions, junk, wrong MACs) around the right one,
        // in the same field or in a repeated one.
        let candidate = fuzzed.firstNonEmpty(idNames) ?? ""
        let usable = candidate.utf8.count <= 256 && candidate.utf8.allSatisfy { (0x21...0x7E).contains($0) }
        let id = !candidate.isEmpty && usable ? candidate : "msg_fuzz"
        let seconds = Int64(now.timeIntervalSince1970)
        let time = seconds + Int64(fuzzed.body.count % 601) - tolerance
        let key = standardKeys[fuzzed.body.count % standardKeys.count]
        var names = fuzzed.body.count % 3 == 0 ? svixNames : webhookNames
        if fuzzed.body.count % 7 == 0 { names = names.map { $0.uppercased() } }
        // Whatever the input's own entries hold (a space followed by a combining mark included),
        // the genuine entry must still be found.
        let others = fuzzed.firstNonEmpty(signatureNames) ?? ""
        func signed(body: [UInt8], time: Int64) -> FuzzDelivery {
            let mac = Crypto.hmacSHA256(key: key, data: Array("\(id).\(time).".utf8) + body)
            let entry = "v1," + Data(mac).base64EncodedString()
            var fields = [(names[0], id), (names[1], String(time))]
            switch fuzzed.body.count % 4 {
            case 0: fields.append((names[2], others + " " + entry))
            case 1: fields.append((names[2], entry + " " + others))
            case 2: fields += [(names[2], others), (names[2], entry)]
            // An id that holds a comma cannot be told apart from a repeated field once joined.
            case _ where id.contains(","): fields += [(names[1], "yesterday"), (names[2], entry)]
            default:
                // Repeated id and timestamp fields too, the genuine ones last.
                fields = [(names[0], "not an id"), (names[0], id), (names[1], "yesterday"), (names[1], String(time))]
                fields += [(names[2], entry), (names[2], others)]
            }
            return FuzzDelivery(fields: fields, body: body)
        }
        let good = signed(body: fuzzed.body, time: time)
        let accepted = standardVerifier.verify(header: good.header, pathToken: nil, body: good.body, now: now)
        try require(
            accepted == .verified(deliveryID: id),
            "a correctly signed delivery was \(describe(accepted)): \(shown(good.fields))")

        let late = signed(body: fuzzed.body, time: time < seconds ? time - 301 : time + 301)
        let lateVerdict = standardVerifier.verify(header: late.header, pathToken: nil, body: late.body, now: now)
        try require(
            lateVerdict == .rejected(.timestampOutsideTolerance),
            "a delivery signed outside the tolerance was \(describe(lateVerdict))")

        var tampered = good
        tampered.body.append(UInt8(ascii: " "))
        let tamperedVerdict = standardVerifier.verify(
            header: tampered.header, pathToken: nil, body: tampered.body, now: now)
        try require(!tamperedVerdict.isVerified, "a delivery whose body changed after signing was verified")

        // The product's own signer (the first secret) and verifier agree.
        let own = delivery(
            standardSigner.sign(body: fuzzed.body, now: Date(timeIntervalSince1970: Double(time)), deliveryID: id),
            body: fuzzed.body)
        let ownVerdict = standardVerifier.verify(header: own.header, pathToken: nil, body: own.body, now: now)
        try require(ownVerdict == .verified(deliveryID: id), "WebhookSigner's delivery was \(describe(ownVerdict))")
    }

    static let standardSigner = signer(.init(scheme: .standardWebhooks, secrets: standardSecrets))
}

// MARK: - hmac-sha256

extension SignatureTargets {
    static let hmacSHA256 = FuzzTarget(
        name: "signature-hmac-sha256",
        summary: "hmac-sha256: sha256=<hex> header, with and without a timestamp header; sign and verify",
        maximumLength: 2048,
        run: runHMAC)

    static let hmacSecrets = ["fuzz-hmac-secret-0123456789", "second-hmac-secret-for-rotation"]
    static let timestampHeader = "X-Signature-Timestamp"
    static let hmacSettings = [
        SignatureSettings(scheme: .hmacSHA256, secrets: hmacSecrets),
        SignatureSettings(scheme: .hmacSHA256, timestampHeader: timestampHeader, secrets: hmacSecrets),
    ]
    static let hmacVerifiers = hmacSettings.map(verifier)
    static let hmacSigners = hmacSettings.map(signer)

    /// Whether SPEC §3 lets an hmac-sha256 `delivery` through, with or without the timestamp header.
    static func hmacSigned(_ delivery: FuzzDelivery, timestamped: Bool) -> Bool {
        guard let value = delivery.header(SignatureSettings.defaultHeader), !value.isEmpty else { return false }
        var prefixes: [[UInt8]] = [[]]
        if timestamped {
            guard let text = delivery.header(timestampHeader), !text.isEmpty else { return false }
            // Signed as sent: `{ts}.{raw body}`.
            prefixes = readings(text).filter { timestamp($0)?.inTolerance == true }.map { Array("\($0).".utf8) }
        }
        let macs = readings(value).compactMap { reading -> [UInt8]? in
            let utf8 = Array(reading.utf8)
            guard utf8.count == 7 + 64, String(decoding: utf8[..<7], as: UTF8.self).lowercased() == "sha256=" else {
                return nil
            }
            return Crypto.hexDecoded(String(decoding: utf8[7...], as: UTF8.self))
        }
        for prefix in prefixes {
            for secret in hmacSecrets
            where macs.contains(Crypto.hmacSHA256(key: Array(secret.utf8), data: prefix + delivery.body)) {
                return true
            }
        }
        return false
    }

    static func runHMAC(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        let fuzzed = FuzzDelivery(bytes)
        for (index, verifier) in hmacVerifiers.enumerated() {
            let timestamped = index == 1
            let label = timestamped ? "with timestamp header" : "body only"
            let verdict = verifier.verify(header: fuzzed.header, pathToken: nil, body: fuzzed.body, now: now)
            if verdict.isVerified {
                try require(
                    verdict == .verified(deliveryID: nil) && hmacSigned(fuzzed, timestamped: timestamped),
                    "\(label): verified a delivery that is not signed")
            }
            let names = [SignatureSettings.defaultHeader] + (timestamped ? [timestampHeader] : [])
            let complete = names.allSatisfy { fuzzed.header($0).map { !$0.isEmpty } == true }
            try require(
                (verdict == .rejected(.missingHeaders)) == !complete,
                "\(label): \(describe(verdict)) with \(complete ? "all" : "not all") of the headers")

            // A correctly signed delivery built from the input, the hex in either case.
            let seconds = Int64(now.timeIntervalSince1970)
            let time = String(seconds + Int64(fuzzed.body.count % 601) - tolerance)
            let secret = hmacSecrets[fuzzed.body.count % hmacSecrets.count]
            func signed(body: [UInt8], time: String) -> FuzzDelivery {
                let content = (timestamped ? Array("\(time).".utf8) : []) + body
                var hex = Crypto.hexEncoded(Crypto.hmacSHA256(key: Array(secret.utf8), data: content))
                if body.count % 5 == 0 { hex = hex.uppercased() }
                var fields = [(SignatureSettings.defaultHeader.lowercased(), "sha256=" + hex)]
                if timestamped { fields.append((timestampHeader, time)) }
                return FuzzDelivery(fields: fields, body: body)
            }
            let good = signed(body: fuzzed.body, time: time)
            let accepted = verifier.verify(header: good.header, pathToken: nil, body: good.body, now: now)
            try require(accepted == .verified(deliveryID: nil), "\(label): a signed delivery was \(describe(accepted))")

            var tampered = good
            tampered.body.append(UInt8(ascii: "\n"))
            let tamperedVerdict = verifier.verify(
                header: tampered.header, pathToken: nil, body: tampered.body, now: now)
            try require(
                tamperedVerdict == .rejected(.noMatchingSignature),
                "\(label): a delivery whose body changed after signing was \(describe(tamperedVerdict))")
            if timestamped {
                let late = signed(body: fuzzed.body, time: String(seconds - tolerance - 1))
                let lateVerdict = verifier.verify(header: late.header, pathToken: nil, body: late.body, now: now)
                try require(
                    lateVerdict == .rejected(.timestampOutsideTolerance),
                    "\(label): a delivery signed outside the tolerance was \(describe(lateVerdict))")
            }

            // The product's own signer (the first secret) and verifier agree.
            let own = delivery(
                hmacSigners[index].sign(
                    body: fuzzed.body, now: Date(timeIntervalSince1970: Double(time) ?? 0), deliveryID: "unused"),
                body: fuzzed.body)
            let ownVerdict = verifier.verify(header: own.header, pathToken: nil, body: own.body, now: now)
            try require(
                ownVerdict == .verified(deliveryID: nil),
                "\(label): WebhookSigner's delivery was \(describe(ownVerdict))")
        }
    }
}

// MARK: - url-token

extension SignatureTargets {
    static let urlToken = FuzzTarget(
        name: "signature-url-token",
        summary: "url-token: the path token against the secrets; any string as a configured token",
        maximumLength: 512,
        run: runURLToken)

    static let tokens = ["whsec_Zm9vYmFyLWZ1enotdG9rZW4tMDEyMzQ1Njc4OQ", "second_token-for-rotation_0123456789"]
    static let tokenVerifier = verifier(.init(scheme: .urlToken, secrets: tokens))

    static func runURLToken(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        let token = String(decoding: bytes, as: UTF8.self)
        let verdict = tokenVerifier.verify(header: { _ in nil }, pathToken: token, body: [], now: now)
        // Compared as bytes: `K` (U+212A) equals `K` as a Swift string, not as a token.
        let known = tokens.contains { $0.utf8.elementsEqual(token.utf8) }
        let expected: SignatureVerdict = known ? .verified(deliveryID: nil) : .rejected(.badToken)
        try require(verdict == expected, "token \(shown(token)): \(describe(verdict)), SPEC: \(describe(expected))")

        // The same text as a configured secret: refused at start-up unless URL-safe and at least
        // 16 characters; when taken, the signer's path segment is exactly it, and it verifies.
        let settings = SignatureSettings(scheme: .urlToken, secrets: [token])
        let usable =
            token.utf8.count >= 16
            && token.utf8.allSatisfy { byte in
                (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
        guard let configured = try? WebhookVerifier(settings: settings) else {
            try require(!usable, "a URL-safe token of \(token.utf8.count) characters was refused as a secret")
            return
        }
        try require(usable, "\(shown(token)) was accepted as a URL token secret")
        let suffix = signer(settings).sign(body: [], now: now, deliveryID: "unused").pathSuffix
        try require(suffix?.utf8.elementsEqual(token.utf8) == true, "the signer's path segment is not the token")
        let own = configured.verify(header: { _ in nil }, pathToken: suffix, body: [], now: now)
        try require(own == .verified(deliveryID: nil), "the configured token was \(describe(own))")
        let other = configured.verify(header: { _ in nil }, pathToken: token + "0", body: [], now: now)
        try require(other == .rejected(.badToken), "a longer token was \(describe(other))")
    }
}
