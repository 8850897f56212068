import Foundation
import HDPSimulator
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// A logger that stays quiet unless something is badly wrong.
private let quietLogger: Logger = {
    var logger = Logger(label: "hdp-sim-test")
    logger.logLevel = .critical
    return logger
}()

/// A callback as the receiver saw it.
struct ReceivedCallback: Sendable {
    /// The request target, query included.
    var uri: String
    /// The request headers.
    var headers: HTTPFields
    /// The body, byte for byte.
    var body: [UInt8]

    /// The body as a JSON object.
    func object() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
    }

    /// The value of the header `name`.
    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }
}

/// A tiny webhook receiver on loopback: collects every POST; `/hook` answers 204, `/down` 503.
final class CallbackReceiver: Sendable {
    private let received = Mutex<[ReceivedCallback]>([])

    /// Everything received so far, in order.
    var callbacks: [ReceivedCallback] { received.withLock { $0 } }

    /// The receiver as an application on a free loopback port.
    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/hook") { request, _ in
            try await self.record(request)
            return Response(status: .noContent)
        }
        router.post("/down") { request, _ in
            try await self.record(request)
            return Response(status: .serviceUnavailable)
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
    }

    private func record(_ request: Request) async throws {
        let body = try await request.body.collect(upTo: 1 << 16)
        let callback = ReceivedCallback(
            uri: request.uri.description, headers: request.headers, body: Array(body.readableBytesView))
        received.withLock { $0.append(callback) }
    }
}

/// Runs a receiver and a live simulator (with its webhook sender) whose callbacks go to the
/// receiver's `path`, or to `port` instead of the receiver's when given.
private func withCallbacks(
    path: String = "/hook", port: Int? = nil, faults: SimulatorFaults = .none, tasks: [TaskSpec] = [],
    signer: CallbackSigner? = nil, clock: @escaping @Sendable () -> Date = { simStart },
    _ body: @escaping @Sendable (any TestClientProtocol, SimulatorState, CallbackReceiver) async throws -> Void
) async throws {
    let receiver = CallbackReceiver()
    try await receiver.application().test(.live) { receiverClient in
        let receiverPort = try #require(receiverClient.port)
        let configuration = SimulatorConfiguration(
            apiKey: simKey, tasks: tasks, faults: faults, clock: clock,
            webhookURL: "http://127.0.0.1:\(port ?? receiverPort)\(path)", webhookSigner: signer)
        let state = try SimulatorState(configuration: configuration)
        try await buildSimulatorApplication(state: state, logger: quietLogger).test(.live) { client in
            try await body(client, state, receiver)
        }
    }
}

/// Waits (up to 10 s) until `condition` holds; whether it did.
private func eventually(_ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: .seconds(10))
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// A port nothing listens on: one a receiver was bound to and has given up.
private func closedPort() async throws -> Int {
    try await CallbackReceiver().application().test(.live) { client in try #require(client.port) }
}

/// A stand-in for HMAC-SHA256 that keeps its inputs readable: the key, a zero byte, the message.
/// The simulator library has no cryptography; what is tested here is what it signs and how it
/// spells the headers.
private let transparentMAC: CallbackHMAC = { key, message in key + [0] + message }

@Suite("Simulator failure callbacks, live")
struct SimulatorCallbackLiveTests {
    @Test("a task created failed sends exactly one callback with HDP's fields; one that is not sends none")
    func oneCallback() async throws {
        try await withCallbacks(path: "/hook?source=hdp") { client, state, receiver in
            let created = try await client.control(
                "tasks", .post,
                json: #"[{"task_id":"\#(failedTask)","status":"TraceGenFailed","error":"Out of memory"},"#
                    + #"{"task_id":"\#(decommitTask)","status":"AtlanticProvingStarted"}]"#)
            #expect(created.status == .ok)
            #expect(try await eventually { state.calls.webhooks.sent == 1 })
            #expect(state.calls.webhooks == CallbackCounts(sent: 1, dropped: 0, failed: 0, pending: 0))
            let callbacks = receiver.callbacks
            #expect(callbacks.count == 1)
            let callback = try #require(callbacks.first)
            #expect(callback.uri == "/hook?source=hdp")
            #expect(callback.header("content-type") == "application/json")
            #expect(callback.header("webhook-id") == nil)
            #expect(callback.header("webhook-signature") == nil)
            let body = try callback.object()
            #expect(Set(body.keys) == ["status", "task_id", "timestamp", "error"])
            #expect(body["status"] as? String == "TraceGenFailed")
            #expect(body["task_id"] as? String == failedTask)
            #expect(body["error"] as? String == "Out of memory")
            #expect(body["timestamp"] as? String == "2025-03-18T10:00:00.000Z")
            let log = try await client.control("webhooks", .get).object()
            let recent = try #require(log["recent"] as? [[String: Any]])
            #expect(recent.count == 1)
            #expect(recent.first?["outcome"] as? String == "sent")
            #expect(recent.first?["http_status"] as? Int == 204)
            #expect((recent.first?["id"] as? String)?.hasPrefix("msg_") == true)
        }
    }

    @Test("a retried task that fails again calls back by itself when its re-run settles")
    func failAgain() async throws {
        let faults = SimulatorFaults(failAgain: 1, progressAfterMilliseconds: 100)
        try await withCallbacks(faults: faults, clock: { Date() }) { client, state, receiver in
            _ = try await client.control(
                "tasks", .post, json: #"{"task_id":"\#(failedTask)","error":"prover timeout"}"#)
            #expect(try await eventually { state.calls.webhooks.sent == 1 })
            #expect(try await client.retry(failedTask).status == .ok)
            // Nobody reads the task: the simulator settles the re-run on its own.
            #expect(try await eventually { state.calls.webhooks.sent == 2 })
            let bodies = try receiver.callbacks.map { try $0.object() }
            #expect(bodies.count == 2)
            #expect(bodies.allSatisfy { $0["status"] as? String == "AtlanticProvingFailed" })
            #expect(bodies.allSatisfy { $0["error"] as? String == "prover timeout" })
            let stamps = bodies.compactMap { $0["timestamp"] as? String }
            #expect(stamps.count == 2 && stamps[0] < stamps[1])
        }
    }

    @Test("a signed callback carries webhook-id, webhook-timestamp and a v1 signature over id.timestamp.body")
    func signed() async throws {
        let secret = "whsec_" + Data("0123456789abcdef0123".utf8).base64EncodedString()
        let signer = try CallbackSigning.standardWebhooks(secret: secret, hmacSHA256: transparentMAC)
        try await withCallbacks(signer: signer) { client, state, receiver in
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(failedTask)"}"#)
            #expect(try await eventually { state.calls.webhooks.sent == 1 })
            let callback = try #require(receiver.callbacks.first)
            let id = try #require(callback.header("webhook-id"))
            #expect(id.count == 31)
            #expect(id.hasPrefix("msg_") && id.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
            let timestamp = try #require(callback.header("webhook-timestamp"))
            #expect(timestamp == "1742292000")
            let expected = transparentMAC(
                Array("0123456789abcdef0123".utf8), Array("\(id).\(timestamp).".utf8) + callback.body)
            #expect(callback.header("webhook-signature") == "v1," + Data(expected).base64EncodedString())
            #expect(try callback.object()["error"] is NSNull)
            #expect(try await client.control("webhooks", .get).object()["signed"] as? Bool == true)
        }
    }

    @Test("dropped callbacks are counted and never sent; the others still are")
    func drop() async throws {
        try await withCallbacks { client, state, receiver in
            #expect(try await client.control("webhooks", .put, json: #"{"drop_next":1}"#).status == .ok)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(failedTask)"}"#)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(decommitTask)"}"#)
            #expect(try await eventually { state.calls.webhooks.sent == 1 })
            let put = try await client.control("webhooks", .put, json: #"{"drop":true}"#)
            #expect(try put.object()["drop"] as? Bool == true)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(missingResultsTask)"}"#)
            #expect(state.calls.webhooks == CallbackCounts(sent: 1, dropped: 2, failed: 0, pending: 0))
            let received = try receiver.callbacks.map { try $0.object()["task_id"] as? String }
            #expect(received == [decommitTask])
            let recent = try #require(try await client.control("webhooks", .get).object()["recent"] as? [[String: Any]])
            #expect(recent.compactMap { $0["outcome"] as? String } == ["dropped", "sent", "dropped"])
            #expect(recent.compactMap { $0["task_id"] as? String } == [failedTask, decommitTask, missingResultsTask])
        }
    }

    @Test("a receiver that is down makes a failed callback, and the simulator keeps serving")
    func receiverDown() async throws {
        let port = try await closedPort()
        try await withCallbacks(port: port) { client, state, receiver in
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(failedTask)"}"#)
            #expect(try await eventually { state.calls.webhooks.failed == 1 })
            #expect(try await client.status(failedTask).status == .ok)
            #expect(try await client.list().status == .ok)
            #expect(try await client.retry(failedTask).status == .ok)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(decommitTask)"}"#)
            #expect(try await eventually { state.calls.webhooks.failed == 2 })
            #expect(state.calls.webhooks.sent == 0)
            #expect(state.calls.webhooks.pending == 0)
            #expect(receiver.callbacks.isEmpty)
            let record = try #require(state.webhookLog.first)
            #expect(record.outcome == .failed)
            #expect(record.httpStatus == nil)
            #expect(record.reason?.hasPrefix("connection failed") == true)
        }
    }

    @Test("a callback answered with anything but a 2xx is failed, and not sent again")
    func receiverRefuses() async throws {
        try await withCallbacks(path: "/down") { client, state, receiver in
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(failedTask)"}"#)
            #expect(try await eventually { state.calls.webhooks.failed == 1 })
            #expect(state.webhookLog.first?.httpStatus == 503)
            #expect(state.webhookLog.first?.reason == "answered 503")
            #expect(receiver.callbacks.count == 1)
            #expect(state.calls.webhooks.pending == 0)
        }
    }
}

@Suite("Simulator failure callbacks, control")
struct SimulatorCallbackControlTests {
    @Test("a failed task created through the control API owes a callback; start-up tasks owe none")
    func owed() async throws {
        try await withSimulator { client, state in
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(unknownTask)"}"#)
            #expect(state.calls.webhooks == CallbackCounts())
            let put = try await client.control("webhooks", .put, json: #"{"url":"http://127.0.0.1:9/hook"}"#)
            #expect(try put.object()["url"] as? String == "http://127.0.0.1:9/hook")
            #expect(state.calls.webhooks.pending == 0)
            _ = try await client.control(
                "tasks", .post, json: #"{"task_id":"\#(unknownTask)","status":"DryRunFailed"}"#)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(failedTask)","status":"Received"}"#)
            #expect(state.calls.webhooks.pending == 1)
            _ = try await client.control("webhooks", .put, json: #"{"url":null}"#)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(decommitTask)"}"#)
            #expect(state.calls.webhooks.pending == 1)
            #expect(state.webhooks.target == nil)
        }
    }

    @Test("a re-run that fails again owes a callback; one that completes does not")
    func failAgainOwed() async throws {
        let faults = SimulatorFaults(failAgain: 1, progressAfterMilliseconds: 1000)
        try await withSimulator(faults: faults) { client, state in
            _ = try await client.control("webhooks", .put, json: #"{"url":"http://127.0.0.1:9/hook"}"#)
            _ = try await client.retry(failedTask)
            _ = try await client.control("advance", .post)
            #expect(state.calls.webhooks.pending == 1)
            _ = try await client.retry(failedTask)
            _ = try await client.control("advance", .post)
            #expect(state.task(failedTask)?.status == "TaskDecommitmentCompleted")
            #expect(state.calls.webhooks.pending == 1)
        }
    }

    @Test("drop_next counts down and drop holds; both are replaced by the next PUT")
    func dropSettings() async throws {
        try await withSimulator(tasks: []) { client, state in
            _ = try await client.control(
                "webhooks", .put, json: #"{"url":"http://127.0.0.1:9/hook","drop_next":2}"#)
            for index in 0..<3 {
                _ = try await client.control("tasks", .post, json: #"{"task_id":"01JPJ03YJT1A93D6NF56G4GV0\#(index)"}"#)
            }
            #expect(state.calls.webhooks == CallbackCounts(sent: 0, dropped: 2, failed: 0, pending: 1))
            let shown = try await client.control("webhooks", .put, json: #"{"drop":true,"drop_next":5}"#).object()
            #expect(shown["drop"] as? Bool == true)
            #expect(shown["drop_next"] as? Int == 5)
            #expect(shown["url"] as? String == "http://127.0.0.1:9/hook")
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(failedTask)"}"#)
            #expect(state.webhooks.dropNext == 5)
            #expect(state.calls.webhooks.dropped == 3)
            let cleared = try await client.control("webhooks", .put, json: "{}").object()
            #expect(cleared["drop"] as? Bool == false)
            #expect(cleared["drop_next"] as? Int == 0)
        }
    }

    @Test("callback counts are part of the call counts, and a reset clears them and the target it set")
    func reset() async throws {
        try await withSimulator { client, state in
            _ = try await client.control("webhooks", .put, json: #"{"url":"http://127.0.0.1:9/hook","drop":true}"#)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(unknownTask)"}"#)
            let calls = try await client.control("calls", .get).object()
            #expect((calls["webhooks"] as? [String: Any])?["dropped"] as? Int == 1)
            #expect(try await client.control("reset", .post).status == .ok)
            #expect(state.calls == SimulatorCallCounts())
            #expect(state.webhooks == CallbackSettings())
            #expect(state.webhookLog.isEmpty)
        }
    }

    @Test(
        "a webhook control that cannot be followed is 400 and changes nothing",
        arguments: [
            #"{"drop_next":-1}"#, #"{"url":"https://example.test/hook"}"#, #"{"url":"not a url"}"#,
            #"{"url":"http://"}"#, #"{"url":"http://127.0.0.1:70000/"}"#, #"{"drop":"yes"}"#,
        ])
    func badControl(json: String) async throws {
        try await withSimulator { client, state in
            let response = try await client.control("webhooks", .put, json: json)
            #expect(response.status == .badRequest)
            #expect(try response.object()["error"] is String)
            #expect(state.webhooks == CallbackSettings())
        }
    }

    @Test("a configured webhook URL must be http://")
    func badConfiguredURL() {
        #expect(throws: SimulatorError.self) {
            try SimulatorState(configuration: SimulatorConfiguration(webhookURL: "https://127.0.0.1/hook"))
        }
    }

    @Test(
        "webhook targets are taken apart for the request line and Host header",
        arguments: [
            ("http://127.0.0.1:8080/webhooks/hdp", "127.0.0.1", 8080, "/webhooks/hdp", "127.0.0.1:8080"),
            ("http://localhost", "localhost", 80, "/", "localhost"),
            ("HTTP://[::1]:9000/a?b=c%20d", "::1", 9000, "/a?b=c%20d", "[::1]:9000"),
        ])
    func targets(url: String, host: String, port: Int, requestTarget: String, hostHeader: String) throws {
        let target = try CallbackTarget(parsing: url)
        #expect(target.host == host)
        #expect(target.port == port)
        #expect(target.requestTarget == requestTarget)
        #expect(target.hostHeader == hostHeader)
    }

    @Test("a Standard Webhooks secret is whsec_ and base64; anything else is refused")
    func secrets() throws {
        #expect(try CallbackSigning.key(fromSecret: "whsec_AAEC") == [0, 1, 2])
        #expect(try CallbackSigning.key(fromSecret: "AAEC") == [0, 1, 2])
        #expect(throws: SimulatorError.self) { try CallbackSigning.key(fromSecret: "whsec_") }
        #expect(throws: SimulatorError.self) { try CallbackSigning.key(fromSecret: "whsec_!!!") }
        let content = CallbackSigning.signedContent(body: Array("{}".utf8), id: "msg_1", timestamp: 7)
        #expect(content == Array("msg_1.7.{}".utf8))
    }

    @Test("webhook ids are unique across resets")
    func uniqueIDs() throws {
        let state = try SimulatorState(configuration: SimulatorConfiguration(webhookURL: "http://127.0.0.1:9/"))
        var ids = Set<String>()
        for round in 0..<3 {
            if round > 0 { try state.reset() }
            try state.setWebhooks(CallbackControl(drop: true))
            try state.upsert([TaskSpec(taskID: failedTask), TaskSpec(taskID: decommitTask)])
            ids.formUnion(state.webhookLog.map(\.id))
        }
        #expect(ids.count == 6)
    }
}
