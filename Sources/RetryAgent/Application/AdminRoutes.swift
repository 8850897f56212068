import Foundation
import Hummingbird
import RetryCore
import RetryJournal
import Synchronization

/// Readiness: journal replayed, rules loaded, webhook listener bound.
public final class Readiness: Sendable {
    private let state = Mutex((replayed: false, rulesLoaded: false, listening: false))

    public init() {}

    public func markReplayed() { state.withLock { $0.replayed = true } }
    public func markRulesLoaded() { state.withLock { $0.rulesLoaded = true } }
    public func markListening() { state.withLock { $0.listening = true } }

    /// What is still missing, empty when ready.
    public var missing: [String] {
        state.withLock { state in
            var missing: [String] = []
            if !state.replayed { missing.append("journal replay") }
            if !state.rulesLoaded { missing.append("rules") }
            if !state.listening { missing.append("webhook listener") }
            return missing
        }
    }
}

/// The admin listener's routes (SPEC §3 "Admin listener").
public struct AdminRoutes: Sendable {
    /// The engine once the journal is replayed.
    public let engine: @Sendable () -> RetryEngine?
    public let metrics: AgentMetrics
    public let readiness: Readiness
    public let reload: (@Sendable () async -> RulesReloadResult)?
    public let journalPath: String
    /// When set, `POST /-/reload` and `GET /tasks/{id}` need `Authorization: Bearer <token>`.
    public let token: String?

    public init(
        engine: @escaping @Sendable () -> RetryEngine?, metrics: AgentMetrics, readiness: Readiness,
        reload: (@Sendable () async -> RulesReloadResult)?,
        journalPath: String, token: String?
    ) {
        self.engine = engine
        self.metrics = metrics
        self.readiness = readiness
        self.reload = reload
        self.journalPath = journalPath
        self.token = token
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        registerRoutes(on: router)
        registerOtherMethods(on: router)
    }

    /// The methods each admin path answers, for `Allow` (HEAD goes with GET).
    static let allowedMethods: [(path: RouterPath, methods: [HTTPRequest.Method])] = [
        ("/metrics", [.get, .head]), ("/healthz", [.get, .head]), ("/readyz", [.get, .head]),
        ("/-/reload", [.post]), ("/tasks/{id}", [.get]),
    ]

    /// HEAD on the probe and metrics paths answers like GET without a body (load balancers and
    /// uptime checks use it; the metrics are not even rendered); any other method an admin path
    /// does not serve is 405 with `Allow`, not a 404 that reads as a wrong path.
    private func registerOtherMethods<Context: RequestContext>(on router: Router<Context>) {
        router.head("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"])
        }
        router.head("/healthz") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"]) }
        router.head("/readyz") { _, _ in
            Response(
                status: readiness.missing.isEmpty ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"])
        }
        let everyMethod: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]
        for (path, methods) in Self.allowedMethods {
            let allow = methods.map(\.rawValue).joined(separator: ", ")
            for method in everyMethod where !methods.contains(method) {
                router.on(path, method: method) { _, _ in
                    var response = WebhookHandler.json(.methodNotAllowed, ["error": "method not allowed"])
                    response.headers[.allow] = allow
                    return response
                }
            }
        }
    }

    private func registerRoutes<Context: RequestContext>(on router: Router<Context>) {
        router.get("/metrics") { _, _ in
            await engine()?.refreshGauges()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition()))
            )
        }
        router.get("/healthz") { _, _ in WebhookHandler.json(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            let missing = readiness.missing
            if missing.isEmpty { return WebhookHandler.json(.ok, ["status": "ready"]) }
            return WebhookHandler.json(
                .serviceUnavailable, ["status": "not ready", "waiting_for": missing.joined(separator: ", ")])
        }
        router.post("/-/reload") { request, _ in
            if let denied = authorize(request) { return denied }
            guard let reload else {
                return WebhookHandler.json(.serviceUnavailable, ["error": "rules are not loaded yet"])
            }
            let result = await reload()
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("reloaded", result.succeeded)
            writer.field("rules", result.ruleCount)
            writer.field("reason", result.failureReason)
            writer.key("diagnostics")
            writer.beginArray()
            for diagnostic in result.diagnostics { writer.string(diagnostic.description) }
            writer.endArray()
            writer.endObject()
            return WebhookHandler.response(result.succeeded ? .ok : .unprocessableContent, writer.bytes)
        }
        router.get("/tasks/{id}") { request, context in
            if let denied = authorize(request) { return denied }
            let raw = context.parameters.get("id") ?? ""
            guard let task = TaskID(raw) else {
                return WebhookHandler.json(.badRequest, ["error": TaskID.problem(with: raw)])
            }
            guard let engine = engine() else {
                return WebhookHandler.json(.serviceUnavailable, ["error": "the journal is not replayed yet"])
            }
            let ledger = await engine.ledgerSnapshot
            guard let entry = ledger.tasks[task] else {
                return WebhookHandler.json(.notFound, ["error": "task not in the journal"])
            }
            let history = (try? TaskHistory.records(for: task, journalPath: journalPath)) ?? []
            return WebhookHandler.response(.ok, TaskHistory.view(task: task, entry: entry, history: history))
        }
    }

    private func authorize(_ request: Request) -> Response? {
        guard let token else { return nil }
        let presented = request.headers[.authorization] ?? ""
        if Crypto.constantTimeEquals(Array(presented.utf8), Array("Bearer \(token)".utf8)) { return nil }
        return WebhookHandler.json(.unauthorized, ["error": "admin token required"])
    }
}

/// The task view of `GET /tasks/{id}` and `journal inspect --task`.
public enum TaskHistory {
    /// The task's records, oldest first, read from the journal file.
    public static func records(for task: TaskID, journalPath: String) throws -> [JournalRecord] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: journalPath)))
        var records: [JournalRecord] = []
        _ = JournalReader.scan(bytes) { record in
            if record.task == task { records.append(record) }
        }
        return records
    }

    /// `{"task_id","state","attempts","history":[…]}`.
    public static func view(task: TaskID, entry: TaskEntry, history: [JournalRecord]) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("task_id", task.rawValue)
        writer.field("state", entry.state.rawValue)
        writer.field("attempts", entry.attempts)
        writer.field("last_accepted_at", entry.lastAcceptedAt)
        if let episode = entry.episode {
            writer.key("episode")
            writer.beginObject()
            writer.field("rule", episode.schedule.rule)
            writer.field("max_attempts", episode.schedule.maxAttempts)
            writer.field("due", episode.schedule.due)
            writer.field("status", episode.status)
            writer.field("tries", episode.tries)
            writer.field("in_flight_attempt", episode.inFlightAttempt)
            writer.field("correlation_id", episode.correlationID)
            writer.endObject()
        }
        writer.key("history")
        writer.beginArray()
        for record in history {
            writer.beginObject()
            JournalCodec.writeFields(of: record, into: &writer)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}
