import Foundation
import Hummingbird
import RetryCore
import RetryJournal
import Synchronization

/// The admin listener's routes (SPEC §3 "Admin listener").
public struct AdminRoutes: Sendable {
    /// The engine once the journal is replayed.
    public let engine: @Sendable () -> RetryEngine?
    public let metrics: AgentMetrics
    public let readiness: Readiness
    public let reload: (@Sendable () async -> RulesReloadResult)?
    /// When set, `POST /-/reload`, `POST /-/reconcile` and `/tasks` need `Authorization: Bearer <token>`.
    public let token: String?
    /// Runs a reconciliation sweep (`POST /-/reconcile`); `nil` answers before the reconciler runs.
    public let reconcile: (@Sendable () async -> Reconciler.RequestOutcome?)?

    public init(
        engine: @escaping @Sendable () -> RetryEngine?, metrics: AgentMetrics, readiness: Readiness,
        reload: (@Sendable () async -> RulesReloadResult)?, token: String?,
        reconcile: (@Sendable () async -> Reconciler.RequestOutcome?)? = nil
    ) {
        self.engine = engine
        self.metrics = metrics
        self.readiness = readiness
        self.reload = reload
        self.token = token
        self.reconcile = reconcile
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        registerRoutes(on: router)
        registerOtherMethods(on: router)
    }

    /// The methods each admin path answers, for `Allow` (HEAD goes with GET).
    static let allowedMethods: [(path: RouterPath, methods: [HTTPRequest.Method])] = [
        ("/metrics", [.get, .head]), ("/healthz", [.get, .head]), ("/readyz", [.get, .head]),
        ("/-/reload", [.post]), ("/-/reconcile", [.post]), ("/tasks", [.get]), ("/tasks/{id}", [.get]),
    ]

    /// `GET /tasks` answers at most this many tasks, whatever `limit` asks.
    public static let maximumListLimit = 1000

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
                    JSONAnswer.error(.methodNotAllowed, "method not allowed", headers: [.allow: allow])
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
        router.get("/healthz") { _, _ in JSONAnswer.response(.ok, ProbeAnswer(status: "ok")) }
        router.get("/readyz") { _, _ in
            let missing = readiness.missing
            if missing.isEmpty { return JSONAnswer.response(.ok, ProbeAnswer(status: "ready")) }
            return JSONAnswer.response(
                .serviceUnavailable,
                ProbeAnswer(status: "not ready", waitingFor: missing.joined(separator: ", ")))
        }
        router.post("/-/reload") { request, _ in
            if let denied = authorize(request) { return denied }
            guard let reload else { return JSONAnswer.error(.serviceUnavailable, "rules are not loaded yet") }
            let result = await reload()
            let answer = ReloadAnswer(
                reloaded: result.succeeded, rules: result.ruleCount, reason: result.failureReason,
                diagnostics: result.diagnostics.map(\.description))
            return JSONAnswer.response(result.succeeded ? .ok : .unprocessableContent, answer)
        }
        router.post("/-/reconcile") { request, _ in
            if let denied = authorize(request) { return denied }
            return await reconcileNow()
        }
        router.get("/tasks") { request, _ in
            if let denied = authorize(request) { return denied }
            let query = request.uri.queryParameters
            let stateText = query["state"].map(String.init) ?? TaskState.pending.rawValue
            guard let state = TaskState(rawValue: stateText) else {
                let known = TaskState.allCases.map(\.rawValue).joined(separator: ", ")
                return JSONAnswer.error(.badRequest, "state must be one of: \(known)")
            }
            var limit = 100
            if let text = query["limit"] {
                guard let value = Int(text), value > 0 else {
                    return JSONAnswer.error(.badRequest, "limit must be a positive whole number")
                }
                limit = min(value, Self.maximumListLimit)
            }
            guard let engine = engine() else {
                return JSONAnswer.error(.serviceUnavailable, "the journal is not replayed yet")
            }
            let tasks = await engine.store.tasks(in: state, limit: limit, now: Date())
            let answers = tasks.map { TaskAnswer(task: $0.task, entry: $0.entry, history: nil) }
            return JSONAnswer.response(.ok, TaskListAnswer(state: state.rawValue, count: answers.count, tasks: answers))
        }
        router.get("/tasks/{id}") { request, context in
            if let denied = authorize(request) { return denied }
            let raw = context.parameters.get("id") ?? ""
            guard let task = TaskID(raw) else { return JSONAnswer.error(.badRequest, TaskID.problem(with: raw)) }
            guard let engine = engine() else {
                return JSONAnswer.error(.serviceUnavailable, "the journal is not replayed yet")
            }
            guard let view = await engine.store.view(of: task) else {
                return JSONAnswer.error(.notFound, "task not in the journal")
            }
            return JSONAnswer.response(.ok, TaskAnswer(task: view.task, entry: view.entry, history: view.history))
        }
    }

    /// `nil` when the request may proceed; 401 when an admin token is set and the request does
    /// not carry it as `Authorization: Bearer <token>` (the scheme's name in any case).
    private func authorize(_ request: Request) -> Response? {
        guard let token else { return nil }
        let presented = request.headers[.authorization] ?? ""
        if Self.bearer(presented, matches: token) { return nil }
        return JSONAnswer.error(.unauthorized, "admin token required")
    }

    /// Whether `header` is `Bearer <token>`, the scheme compared without regard to case (RFC 9110
    /// §11.1), the token in constant time.
    static func bearer(_ header: String, matches token: String) -> Bool {
        let scheme = "bearer "
        let bytes = Array(header.utf8)
        guard bytes.count >= scheme.utf8.count,
            String(decoding: bytes[..<scheme.utf8.count], as: UTF8.self).lowercased() == scheme
        else {
            // Compare anyway, so a wrong scheme takes as long as a wrong token.
            _ = Crypto.constantTimeEquals(bytes, Array(token.utf8))
            return false
        }
        return Crypto.constantTimeEquals(Array(bytes[scheme.utf8.count...]), Array(token.utf8))
    }
}
