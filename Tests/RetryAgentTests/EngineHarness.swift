import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RetryTesting
import Synchronization

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// A real engine over a real journal in a temporary directory, with the journal writer running in
/// a child task for as long as the body of ``withEngine(settings:classify:faults:logger:metrics:_:)``
/// runs. Shared by the route, metrics, full-disk and secrets suites.
struct EngineHarness: Sendable {
    let directory: String
    let journalPath: String
    let file: JournalFile
    let writer: JournalWriter
    let store: FileStore
    let engine: RetryEngine
    let clock: ManualClock
    let metrics: AgentMetrics
    let logger: Logger

    /// The Standard Webhooks secret the harness's handlers verify with.
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    /// A secret nobody configured: signatures made with it must be refused.
    static let wrongSecret = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCBhdCBhbGwh"
    /// The path the handlers are registered on.
    static let path = "/webhooks/hdp"

    /// A handler for `settings` (Standard Webhooks with ``secret`` by default), over this engine.
    func handler(
        settings: SignatureSettings = SignatureSettings(secrets: [EngineHarness.secret]), maxBodyBytes: Int = 65_536
    ) throws -> WebhookHandler {
        WebhookHandler(
            verifier: try WebhookVerifier(settings: settings), parser: NoticeParser(), engine: engine,
            maxBodyBytes: maxBodyBytes, clock: clock, metrics: metrics, logger: logger
        )
    }

    /// A router with a handler for `settings` registered on ``path``.
    func router(
        settings: SignatureSettings = SignatureSettings(secrets: [EngineHarness.secret]), maxBodyBytes: Int = 65_536
    ) throws -> Router<BasicRequestContext> {
        let router = Router()
        try handler(settings: settings, maxBodyBytes: maxBodyBytes).register(on: router, path: Self.path)
        return router
    }

    /// The journal's records as a restarted agent would read them.
    func recordsOnDisk() throws -> [JournalRecord] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: journalPath)))
        var records: [JournalRecord] = []
        let scan = JournalReader.scan(bytes) { records.append($0) }
        guard scan.corrupt.isEmpty, scan.tornTail == nil else { throw HarnessError.unreadableJournal }
        return records
    }

    /// Waits (polling, bounded by `seconds`) until `condition` holds; false when it never did.
    func eventually(within seconds: Double = 10, _ condition: @Sendable () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return await condition()
    }
}

/// A harness that could not do what a test asked of it.
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    static let unreadableJournal = HarnessError(description: "the journal holds unreadable records")
}

/// Runs `body` with a fresh engine whose journal writer runs concurrently; the writer is cancelled
/// and the temporary directory removed when `body` returns.
func withEngine<T: Sendable>(
    settings: EngineSettings = EngineSettings(),
    storeSettings: FileStore.Settings = FileStore.Settings(),
    classify: @escaping @Sendable (RuleEvent) -> Classification = simpleClassifier,
    faults: JournalFaults? = nil,
    policy: FsyncPolicy = .always,
    logger: Logger = silentLogger,
    metrics: AgentMetrics = AgentMetrics(version: "test"),
    _ body: (EngineHarness) async throws -> T
) async throws -> T {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let journalPath = directory + "/journal.jsonl"
    let file = try JournalFile(path: journalPath, faults: faults)
    let writer = JournalWriter(file: file, policy: policy, durableSeq: 0, logger: logger) { event in
        switch event {
        case .failed: metrics.journalWriteErrors.increment()
        case .compactionFailed: metrics.journalCompactionFailures.increment()
        case .compacted: metrics.journalCompactions.increment()
        default: break
        }
    }
    let clock = ManualClock()
    let store = FileStore(
        ledger: Ledger(dedupWindow: storeSettings.dedupWindow), file: file, writer: writer, settings: storeSettings
    ) { event in
        if case .appended(let records) = event { metrics.journalRecords.increment(by: Int64(records)) }

    }
    let engine = RetryEngine(
        store: store, breaker: .closed, settings: settings, clock: clock, metrics: metrics, logger: logger,
        jitter: { 0.5 }, classify: classify
    )
    let harness = EngineHarness(
        directory: directory, journalPath: journalPath, file: file, writer: writer, store: store, engine: engine,
        clock: clock, metrics: metrics, logger: logger
    )
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await writer.run() }
        do {
            let result = try await body(harness)
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// A failure notice body as HDP's callback sends it.
func noticeBody(
    task: String = sampleTask.rawValue, status: String = "AtlanticProvingFailed", error: String? = "prover timeout"
)
    -> String
{
    var members = [#""task_id":"\#(task)""#, #""status":"\#(status)""#]
    if let error { members.append(#""error":"\#(error)""#) }
    return "{" + members.joined(separator: ",") + "}"
}

/// Request headers for `body` signed under `settings` at `now` with delivery id `id`.
func signedHeaders(
    _ body: String, id: String, now: Date,
    settings: SignatureSettings = SignatureSettings(secrets: [EngineHarness.secret]),
    contentType: String? = "application/json"
) throws -> HTTPFields {
    var fields = HTTPFields()
    if let contentType { fields[.contentType] = contentType }
    for header in try WebhookSigner(settings: settings).sign(body: Array(body.utf8), now: now, deliveryID: id).headers {
        guard let name = HTTPField.Name(header.name) else { throw HarnessError(description: "bad header name") }
        fields[name] = header.value
    }
    return fields
}

/// An `HDPClient` whose answers the test scripts per task, and which records every call.
final class ScriptedHDPClient: HDPClient {
    /// One call the client received.
    enum Call: Sendable, Hashable {
        case status(TaskID)
        case retry(TaskID)
        case list(page: Int, perPage: Int, search: String?)
    }

    private struct Script {
        var status: [TaskID: [HDPStatusOutcome]] = [:]
        var retry: [TaskID: [HDPCallOutcome]] = [:]
        var list: [HDPListOutcome] = []
        var calls: [Call] = []
    }

    private let script = Mutex(Script())
    /// Answered to status checks once a task's script is used up.
    let defaultStatus: HDPStatusOutcome
    /// Answered to retries once a task's script is used up.
    let defaultRetry: HDPCallOutcome

    init(
        defaultStatus: HDPStatusOutcome = .status(
            TaskStatusInfo(status: "AtlanticProvingFailed", errorMessage: "prover timeout", updatedAt: nil)),
        defaultRetry: HDPCallOutcome = .accepted
    ) {
        self.defaultStatus = defaultStatus
        self.defaultRetry = defaultRetry
    }

    /// Queues answers to `task`'s next retry calls, in order.
    func scriptRetries(_ task: TaskID, _ outcomes: [HDPCallOutcome]) {
        script.withLock { $0.retry[task, default: []] += outcomes }
    }

    /// Queues answers to the next list calls, in order (an empty list once they are used up).
    func scriptList(_ outcomes: [HDPListOutcome]) {
        script.withLock { $0.list += outcomes }
    }

    /// Every call so far, in order.
    var calls: [Call] { script.withLock { $0.calls } }

    /// How many retry calls `task` received.
    func retries(of task: TaskID) -> Int { calls.filter { $0 == .retry(task) }.count }

    func status(of task: TaskID) async -> HDPStatusOutcome {
        script.withLock { script in
            script.calls.append(.status(task))
            if var queue = script.status[task], !queue.isEmpty {
                let next = queue.removeFirst()
                script.status[task] = queue
                return next
            }
            return defaultStatus
        }
    }

    func listTasks(page: Int, perPage: Int, search: String?) async -> HDPListOutcome {
        script.withLock { script in
            script.calls.append(.list(page: page, perPage: perPage, search: search))
            return script.list.isEmpty ? .page(Array("[]".utf8)) : script.list.removeFirst()
        }
    }

    func retry(_ task: TaskID) async -> HDPCallOutcome {
        script.withLock { script in
            script.calls.append(.retry(task))
            if var queue = script.retry[task], !queue.isEmpty {
                let next = queue.removeFirst()
                script.retry[task] = queue
                return next
            }
            return defaultRetry
        }
    }
}
