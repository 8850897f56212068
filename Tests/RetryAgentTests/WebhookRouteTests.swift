import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOPosix
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// Every status code of the webhook route (SPEC §3 "Webhook listener"), through Hummingbird's
/// router test framework, over a real engine and journal.
@Suite("Webhook route")
struct WebhookRouteTests {
    /// Retries everything with one accepted retry allowed, so that the second failure of a task
    /// that was retried once is `exhausted`; `Decommitment` gives up, as in ``simpleClassifier``.
    static let oneAttempt: @Sendable (RuleEvent) -> Classification = { event in
        var classification = simpleClassifier(event)
        classification.maxAttempts = 1
        return classification
    }

    static let taskA = "01JPJ03YJT1A93D6NF56G4GVEQ"
    static let taskB = "01JPJ03YJT1A93D6NF56G4GVER"
    static let taskC = "01JPJ03YJT1A93D6NF56G4GVES"

    /// The JSON object of a response body.
    static func object(_ response: TestResponse) throws -> [String: Any] {
        let data = Data(buffer: response.body)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    @Test("202 answers carry the decision: retry_scheduled, coalesced, gave_up, ignored, exhausted")
    func acceptedDecisions() async throws {
        try await withEngine(classify: Self.oneAttempt) { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                func post(_ body: String, id: String) async throws -> TestResponse {
                    try await client.execute(
                        uri: EngineHarness.path, method: .post,
                        headers: try signedHeaders(body, id: id, now: harness.clock.now),
                        body: ByteBuffer(string: body))
                }
                let first = try await post(noticeBody(task: Self.taskA), id: "msg_1")
                #expect(first.status == .accepted)
                let scheduled = try Self.object(first)
                #expect(scheduled["decision"] as? String == "retry_scheduled")
                #expect(scheduled["task_id"] as? String == Self.taskA)
                #expect(scheduled["rule"] as? String == "transient")
                #expect(scheduled["reason"] as? String == "rule")
                #expect(scheduled["attempt"] as? Int == 1)
                let due = harness.clock.now.addingTimeInterval(10).roundedToMilliseconds
                #expect(scheduled["not_before"] as? String == ISO8601.format(due))
                let correlationID = try #require(scheduled["correlation_id"] as? String)
                #expect(correlationID.count == 13)
                #expect(correlationID.allSatisfy { "0123456789abcdefghjkmnpqrstvwxyz".contains($0) })

                let second = try Self.object(try await post(noticeBody(task: Self.taskA), id: "msg_2"))
                #expect(second["decision"] as? String == "coalesced")
                #expect(second["reason"] as? String == "open_episode")
                #expect(second["attempt"] == nil)

                let gaveUp = try await post(
                    noticeBody(task: Self.taskB, status: "TaskDecommitmentFailed", error: "results missing"),
                    id: "msg_3")
                #expect(gaveUp.status == .accepted)
                #expect(try Self.object(gaveUp)["decision"] as? String == "gave_up")
                #expect(try Self.object(gaveUp)["rule"] as? String == "decommitment")

                let ignored = try await post(noticeBody(task: Self.taskC, status: "Finished", error: nil), id: "msg_4")
                #expect(ignored.status == .accepted)
                #expect(try Self.object(ignored)["decision"] as? String == "ignored")
                #expect(try Self.object(ignored)["reason"] as? String == "not_a_failure")

                // Task A's retry goes out and is accepted: its one allowed attempt is used up.
                harness.clock.advance(by: 11)
                let (run, _) = await harness.engine.claim()
                let admitted = try #require(run.first)
                #expect(run.count == 1 && admitted.item.task.rawValue == Self.taskA)
                await harness.engine.run(admitted, client: ScriptedHDPClient())
                #expect(await harness.store.ledgerSnapshot.tasks[admitted.item.task]?.state == .ended(.retried))

                let exhausted = try await post(noticeBody(task: Self.taskA), id: "msg_5")
                #expect(exhausted.status == .accepted)
                #expect(try Self.object(exhausted)["decision"] as? String == "exhausted")
                #expect(try Self.object(exhausted)["reason"] as? String == "max_attempts")
            }
            // Every acknowledged delivery is in the journal.
            let ids = try harness.recordsOnDisk().compactMap { record -> String? in
                if case .delivery(let delivery) = record.body { return delivery.deliveryID.description }
                return nil
            }
            #expect(ids == ["msg_1", "msg_2", "msg_3", "msg_4", "msg_5"])
        }
    }

    @Test("the same webhook-id again is a 200 duplicate naming the first decision")
    func duplicate() async throws {
        try await withEngine { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let headers = try signedHeaders(body, id: "msg_dup", now: harness.clock.now)
                let first = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(first.status == .accepted)
                let again = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(again.status == .ok)
                let answer = try Self.object(again)
                #expect(answer["duplicate"] as? Bool == true)
                #expect(answer["task_id"] as? String == sampleTask.rawValue)
                #expect(answer["decision"] as? String == "retry_scheduled")
                #expect(answer["delivery_id"] as? String == "msg_dup")
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.count == 1)
        }
    }

    /// A signed body that is not a usable notice, and a phrase the 400 must contain.
    struct BadBody: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var says: String
        var testDescription: String { name }
    }

    static let badBodies: [BadBody] = [
        BadBody(name: "malformed JSON", body: #"{"task_id": "01JPJ03YJT1A93D6NF56G4GVEQ", "#, says: "malformed JSON"),
        BadBody(name: "no task id", body: #"{"status":"AtlanticProvingFailed"}"#, says: "no task id"),
        BadBody(name: "path traversal", body: noticeBody(task: "../admin"), says: "(got 8 characters)"),
        BadBody(
            name: "id with a path suffix", body: noticeBody(task: "01JPJ03YJT1A93D6NF56G4GVEQ/retry"),
            says: "(got 32 characters)"),
        BadBody(
            name: "27 characters", body: noticeBody(task: "01JPJ03YJT1A93D6NF56G4GVEQQ"), says: "(got 27 characters)"),
        BadBody(
            name: "not Crockford base32", body: noticeBody(task: "01JPJ03YJT1A93D6NF56G4GVEU"),
            says: "only Crockford base32 characters"),
    ]

    @Test("400 says what is wrong with a verified body, and nothing is journaled", arguments: badBodies)
    func badRequest(bad: BadBody) async throws {
        try await withEngine { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                let response = try await client.execute(
                    uri: EngineHarness.path, method: .post,
                    headers: try signedHeaders(bad.body, id: "msg_bad", now: harness.clock.now),
                    body: ByteBuffer(string: bad.body))
                #expect(response.status == .badRequest)
                let error = try #require(try Self.object(response)["error"] as? String)
                #expect(error.contains(bad.says), "\(error)")
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
            #expect(harness.file.size == 0)
        }
    }

    @Test("401 for a wrong secret or an expired timestamp: one generic message, never the expected MAC")
    func unauthorized() async throws {
        try await withEngine { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let now = harness.clock.now
                let expired = now.addingTimeInterval(-301)
                let attempts: [(HTTPFields, Date)] = [
                    (
                        try signedHeaders(
                            body, id: "msg_forged", now: now,
                            settings: SignatureSettings(secrets: [EngineHarness.wrongSecret])),
                        now
                    ),
                    (try signedHeaders(body, id: "msg_forged", now: expired), expired),
                ]
                var bodies: Set<String> = []
                for (headers, signedAt) in attempts {
                    let response = try await client.execute(
                        uri: EngineHarness.path, method: .post, headers: headers, body: ByteBuffer(string: body))
                    #expect(response.status == .unauthorized)
                    let text = Self.text(response)
                    bodies.insert(text)
                    // The signature the agent would have accepted for this id and timestamp.
                    let correct = try signedHeaders(body, id: "msg_forged", now: signedAt)[
                        try #require(HTTPField.Name("webhook-signature"))]
                    let mac = try #require(correct?.dropFirst(3))
                    #expect(!text.contains(mac))
                    #expect(!text.contains(EngineHarness.secret.dropFirst(6)))
                }
                #expect(bodies == [#"{"error":"invalid or missing signature"}"# + "\n"])
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }

    @Test("413 from Content-Length before the body is read or authenticated")
    func tooLargeByContentLength() async throws {
        try await withEngine { harness in
            let app = Application(router: try harness.router(maxBodyBytes: 1024))
            try await app.test(.router) { client async throws in
                let body = String(repeating: "x", count: 1025)
                let response = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body))
                #expect(response.status == .contentTooLarge)
                #expect(Self.text(response).contains("1024 bytes"))
                // At the limit it is read, and then the (missing) signature decides.
                let atLimit = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: String(repeating: "x", count: 1024)))
                #expect(atLimit.status == .unauthorized)
            }
        }
    }

    @Test("JSON media types: application/json and application/…+json, in any case, with parameters and blanks")
    func jsonMediaTypes() {
        for accepted in [
            "application/json", "Application/JSON", " application/json ; charset=utf-8", "application/json;",
            "application/vnd.hdp+json", "APPLICATION/CLOUDEVENTS+JSON; charset=utf-8", "\tapplication/json\t",
        ] {
            #expect(WebhookHandler.isJSON(accepted), "\(accepted)")
        }
        for refused in [
            "", "text/plain", "application/jsonx", "application/json5", "text/vnd+json",
            "application/xml", "json", "application/ json", "application/js", ";application/json", nil,
        ] as [String?] {
            #expect(!WebhookHandler.isJSON(refused), "\(refused ?? "nil")")
        }
    }

    @Test("415 for text/plain and for a missing Content-Type", arguments: ["text/plain", nil] as [String?])
    func unsupportedMediaType(contentType: String?) async throws {
        try await withEngine { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let response = try await client.execute(
                    uri: EngineHarness.path, method: .post,
                    headers: try signedHeaders(body, id: "msg_415", now: harness.clock.now, contentType: contentType),
                    body: ByteBuffer(string: body))
                #expect(response.status == .unsupportedMediaType)
                #expect(Self.text(response).contains("application/json"))
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }

    @Test("503 with Retry-After once the engine is stopping; nothing is journaled")
    func stopping() async throws {
        try await withEngine { harness in
            let app = Application(router: try harness.router())
            harness.engine.beginStopping()
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let response = try await client.execute(
                    uri: EngineHarness.path, method: .post,
                    headers: try signedHeaders(body, id: "msg_503", now: harness.clock.now),
                    body: ByteBuffer(string: body))
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "30")
                #expect(Self.text(response).contains("stopping"))
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }

    @Test("url-token: the secret is the last path segment")
    func urlToken() async throws {
        let token = "tok_3q2x7w-Q_AbCdEfGhIjKlMn"
        let settings = SignatureSettings(scheme: .urlToken, secrets: [token])
        try await withEngine { harness in
            let app = Application(router: try harness.router(settings: settings))
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let json: HTTPFields = [.contentType: "application/json"]
                let good = try await client.execute(
                    uri: EngineHarness.path + "/" + token, method: .post, headers: json, body: ByteBuffer(string: body))
                #expect(good.status == .accepted)
                #expect(try Self.object(good)["decision"] as? String == "retry_scheduled")
                for uri in [EngineHarness.path + "/" + token.dropLast() + "z", EngineHarness.path] {
                    let refused = try await client.execute(
                        uri: String(uri), method: .post, headers: json, body: ByteBuffer(string: body))
                    #expect(refused.status == .unauthorized, "\(uri)")
                    #expect(!Self.text(refused).contains(token))
                }
            }
            // Without a sender id, the delivery id is the body's hash.
            let keys = await harness.store.ledgerSnapshot.deliveries.keys
            let bodyID = "sha256:" + Crypto.hexEncoded(Crypto.sha256(Array(noticeBody().utf8)))
            #expect(Array(keys) == [DeliveryKey(id: bodyID)])
        }
    }

    @Test("hmac-sha256: X-Signature-256 over the raw body")
    func hmacHeader() async throws {
        let settings = SignatureSettings(scheme: .hmacSHA256, secrets: ["a shared secret of the sender"])
        try await withEngine { harness in
            let app = Application(router: try harness.router(settings: settings))
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let headers = try signedHeaders(body, id: "unused", now: harness.clock.now, settings: settings)
                #expect(headers[try #require(HTTPField.Name("X-Signature-256"))]?.hasPrefix("sha256=") == true)
                let good = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(good.status == .accepted)
                // The same signature over a body with one more space does not verify.
                let altered = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: headers, body: ByteBuffer(string: body + " "))
                #expect(altered.status == .unauthorized)
            }
        }
    }

    @Test("live: a 10 MB chunked body without Content-Length is cut off at the limit with 413")
    func chunkedBodyCutOff() async throws {
        let total = 10 * 1024 * 1024
        let limit = 65_536
        try await withEngine { harness in
            let consumed = ByteTally()
            let router = Router()
            router.add(middleware: BodyProbe(tally: consumed))
            try harness.handler(maxBodyBytes: limit).register(on: router, path: EngineHarness.path)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                let port = try #require(client.port)
                // A blocking socket client on a pool thread, so that it can watch for the answer
                // between two chunks and stop sending as soon as it arrives.
                let exchange = try await NIOThreadPool.singleton.runIfActive {
                    try ChunkedUpload.post(port: port, path: EngineHarness.path, total: total, chunk: 16_384)
                }
                #expect(exchange.response.hasPrefix("HTTP/1.1 413"), "\(exchange.response.prefix(80))")
                #expect(exchange.response.contains("body exceeds \(limit) bytes"))
                // The answer came before half the body was sent (the bound leaves room for loopback
                // socket buffers, which autotune to several MiB on a busy machine)…
                #expect(exchange.sentBeforeAnswer < total / 2, "sent \(exchange.sentBeforeAnswer) bytes first")
                // …and the handler read at most the limit plus the chunk that crossed it.
                #expect(consumed.value > limit)
                #expect(consumed.value < limit + 1_048_576, "the handler read \(consumed.value) bytes")
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }
}

extension WebhookRouteTests {
    @Test("live: after a 413 the webhook server closes the connection instead of draining the body")
    func oversizedBodyClosesTheConnection() async throws {
        let total = 10 * 1024 * 1024
        try await withEngine { harness in
            let app = try liveWebhookApp(harness)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let exchange = try await NIOThreadPool.singleton.runIfActive {
                    try ChunkedUpload.post(
                        port: port, path: EngineHarness.path, total: total, chunk: 16_384, keepSending: true)
                }
                #expect(exchange.response.hasPrefix("HTTP/1.1 413"), "\(exchange.response.prefix(80))")
                #expect(exchange.response.lowercased().contains("connection: close"))
                // Socket buffers take some bytes before the reset is seen; the rest of 10 MB is refused.
                #expect(
                    exchange.sentBeforeAnswer + exchange.sentAfterAnswer < total / 2,
                    "the server took \(exchange.sentAfterAnswer) bytes after answering")
            }
        }
    }
}

extension WebhookRouteTests {
    /// A client that stops sending (in its headers, in its body, or idle between requests) is
    /// disconnected after the idle timeout, so it cannot hold the connection, and a graceful
    /// shutdown waiting on its request, for ever.
    @Test(
        "live: a connection that stops sending is closed after the idle timeout",
        arguments: [
            "POST /webhooks/hdp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty",
            "POST /webhooks/hdp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: 100\r\n\r\n{\"task_id\":",
            "",
        ])
    func stalledConnectionsAreClosed(request: String) async throws {
        try await withEngine { harness in
            let app = try liveWebhookApp(harness, idleTimeout: .milliseconds(300))
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let closedAfter = try await NIOThreadPool.singleton.runIfActive {
                    try ChunkedUpload.stall(port: port, sending: request, limit: 10)
                }
                let seconds = try #require(closedAfter, "the server kept a stalled connection open for 10 s")
                #expect(seconds >= 0.2, "closed after \(seconds) s, before the idle timeout")
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }
}

extension WebhookRouteTests {
    /// A client that hangs up in the middle of its body did not send too much: it is not a 413
    /// (nor counted as too_large, which an operator may alert on), and nothing is journaled.
    @Test("live: a body cut short by the client is not reported as too large")
    func truncatedBodyIsNotTooLarge() async throws {
        try await withEngine { harness in
            let app = try liveWebhookApp(harness)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let response = try await NIOThreadPool.singleton.runIfActive {
                    try ChunkedUpload.halfClose(
                        port: port,
                        sending: "POST \(EngineHarness.path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"task_id\":")
                }
                #expect(!response.hasPrefix("HTTP/1.1 413"), "\(response.prefix(120))")
                #expect(response.isEmpty || response.hasPrefix("HTTP/1.1 400"), "\(response.prefix(120))")
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }
}

extension WebhookRouteTests {
    /// Anyone who can reach the listener can make rejections: the log keeps 10 per 10 s and
    /// then says how many it left out; the metric counts every one.
    @Test("rejected deliveries are logged 10 per 10 s, then with the number held back")
    func rejectionLogIsThrottled() async throws {
        let store = LogStore()
        let logger = Logger(label: "webhook-test") { _ in CapturingLogHandler(store: store) }
        let metrics = AgentMetrics(version: "test")
        try await withEngine(logger: logger, metrics: metrics) { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                let body = noticeBody()
                let forged = try signedHeaders(
                    body, id: "msg_forged", now: harness.clock.now,
                    settings: SignatureSettings(secrets: [EngineHarness.wrongSecret]))
                for _ in 0..<25 {
                    let response = try await client.execute(
                        uri: EngineHarness.path, method: .post, headers: forged, body: ByteBuffer(string: body))
                    #expect(response.status == .unauthorized)
                }
                func rejections() -> [String] { store.lines.filter { $0.contains("not authenticated") } }
                #expect(rejections().count == 10)
                #expect(!rejections().contains { $0.contains("suppressed") })
                harness.clock.advance(by: 10)
                let later = try signedHeaders(
                    body, id: "msg_forged", now: harness.clock.now,
                    settings: SignatureSettings(secrets: [EngineHarness.wrongSecret]))
                _ = try await client.execute(
                    uri: EngineHarness.path, method: .post, headers: later, body: ByteBuffer(string: body))
                #expect(rejections().count == 11)
                #expect(rejections().last?.contains(#""suppressed": 15"#) == true, "\(rejections().last ?? "")")
            }
        }
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains(#"hdp_retry_webhooks_total{outcome="unauthorized"} 26"#))
    }
}

extension WebhookRouteTests {
    /// A client that sends `Expect: 100-continue` gets `100 Continue` at once (not after its own
    /// one-second wait) when its body fits, and a plain 413 with no invitation when it does not.
    @Test("live: Expect: 100-continue is answered at once for a body within the limit, never for one over it")
    func expectContinue() async throws {
        try await withEngine { harness in
            let app = try liveWebhookApp(harness)
            let body = noticeBody()
            let signed = try signedHeaders(body, id: "msg_continue", now: harness.clock.now)
            let head =
                "POST \(EngineHarness.path) HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
                + signed.map { "\($0.name.rawName): \($0.value)\r\n" }.joined()
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let fits = try await NIOThreadPool.singleton.runIfActive {
                    try ChunkedUpload.expectContinue(
                        port: port, head: head + "Content-Length: \(body.utf8.count)\r\n\r\n", body: body, wait: 3)
                }
                #expect(fits.response.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n"), "\(fits.response.prefix(80))")
                #expect(fits.response.contains("HTTP/1.1 202"), "\(fits.response.prefix(200))")
                let interim = try #require(fits.interimAfter)
                #expect(interim < 0.5, "100 Continue after \(interim) s")

                let tooLarge = try await NIOThreadPool.singleton.runIfActive {
                    try ChunkedUpload.expectContinue(
                        port: port, head: head + "Content-Length: 70000\r\n\r\n", body: "", wait: 3)
                }
                #expect(tooLarge.response.hasPrefix("HTTP/1.1 413"), "\(tooLarge.response.prefix(80))")
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.count == 1)
        }
    }
}

/// The webhook route of `harness` on a real listener (127.0.0.1, a free port), with the agent's
/// HTTP server: 100-continue, close after 413, and `idleTimeout`.
func liveWebhookApp(
    _ harness: EngineHarness, idleTimeout: Duration = WebhookHandler.idleTimeout,
    limits: ListenerLimits = ListenerLimits(), gauge: ListenerGauge = ListenerGauge()
) throws -> some ApplicationProtocol {
    let router = Router()
    try harness.handler(maxBodyBytes: 65_536).register(on: router, path: EngineHarness.path)
    return Application(
        router: router,
        server: WebhookHandler.serverBuilder(
            maxBodyBytes: 65_536,
            limits: {
                var limits = limits
                limits.idleTimeout = idleTimeout
                return limits
            }(), gauge: gauge),
        configuration: .init(address: .hostname("127.0.0.1", port: 0))
    )
}

/// A byte count shared between a request body and the test.
final class ByteTally: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add(_ bytes: Int) { count.withLock { $0 += bytes } }
}

/// Counts the request body bytes the route actually pulled from the connection.
struct BodyProbe<Context: RequestContext>: RouterMiddleware {
    let tally: ByteTally

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var request = request
        let tally = self.tally
        request.body = RequestBody(
            asyncSequence: request.body.map { buffer in
                tally.add(buffer.readableBytes)
                return buffer
            })
        return try await next(request, context)
    }
}
