import Foundation
import Logging
import RetryCore

/// What a sweep acts through: the live engine (``EngineSweepTarget``), or the read-only copy of
/// the journal that `reconcile --dry-run` decides against (``LedgerSweepTarget``).
public protocol SweepTarget: Sendable {
    /// Whether a list call may go out now (rate limit, breaker).
    func permitListCall(now: Date) -> ListCallPermit
    /// The entries of those of `tasks` the journal knows.
    func entries(of tasks: [TaskID]) async -> [TaskID: TaskEntry]
    /// Sends a missed failure down the delivery path — the same decide → journal → dispatch as a
    /// webhook's — and returns its answer once it is durable (a dry run: the answer it would get).
    func deliver(_ input: DeliveryInput) async throws(DeliveryRefusal) -> DeliveryAnswer
}

/// One reconciliation sweep (SPEC §7): pages `GET /tasks` from page 1 — each page after a token of
/// the rate limit, none while the breaker holds calls back — until the last page, or
/// `reconcile.max_pages` pages are read, or a call fails; and sends each missed failure
/// (``Reconciliation/verdict(for:entry:now:lookback:)``) through the target's delivery path.
///
/// The last page is an empty one, or one shorter than an earlier page of the sweep. A first page
/// shorter than `per_page` is not taken for the last: an API that serves fewer than it was asked
/// for (a cap of its own, or a page size it does not take) would otherwise keep every later page
/// out of sight. A list shorter than one page costs one more call, for an empty page.
///
/// A task listed twice in one sweep (the list moved while it was paged: HDP lists the most
/// recently updated first) is looked at once. A failed call ends the sweep: what the pages before
/// it held is kept, and the next sweep starts again at page 1. HDP is asked at most `max_pages`
/// times a sweep.
public struct ReconcileSweep: Sendable {
    public let settings: ReconcileSettings
    public let client: any HDPClient
    public let clock: any AgentClock
    /// Receives one line per missed failure sent down the delivery path.
    public let logger: Logger

    public init(settings: ReconcileSettings, client: any HDPClient, clock: any AgentClock, logger: Logger) {
        self.settings = settings
        self.client = client
        self.clock = clock
        self.logger = logger
    }

    /// Runs the sweep against `target`. When `stopping` says so (graceful shutdown), or the task
    /// is cancelled, it ends as `stopping` after the list call or delivery under way.
    public func run(
        against target: some SweepTarget, stopping: @Sendable () -> Bool = { false }
    ) async -> SweepReport {
        let started = clock.now
        var report = SweepReport(stop: .maxPages, startedAt: started, finishedAt: started)
        var seen: Set<TaskID> = []
        var longestPage = 0
        paging: for page in 1...max(1, settings.maxPages) {
            if let stop = await permit(target, stopping: stopping) {
                report.stop = stop
                break paging
            }
            report.pages += 1
            let body: [UInt8]
            switch await client.listTasks(page: page, perPage: settings.perPage, search: settings.search) {
            case .failure(let failure):
                report.stop = Task.isCancelled ? .stopping : .listFailed
                report.problem = "page \(page): \(Self.describe(failure))"
                break paging
            case .page(let bytes):
                body = bytes
            }
            let read: ListedPage
            do {
                read = try TaskListReader.read(body, fields: settings.fields)
            } catch {
                report.stop = .unreadablePage
                report.problem = "page \(page): \(error.description)"
                break paging
            }
            report.unreadable += read.unreadable.count
            if report.problem == nil, let first = read.unreadable.first { report.problem = "page \(page), \(first)" }
            let fresh = read.tasks.filter { seen.insert($0.taskID).inserted }
            if let stop = await look(at: fresh, target: target, report: &report, stopping: stopping) {
                report.stop = stop
                break paging
            }
            if read.itemCount == 0 || read.itemCount < longestPage {
                report.stop = .lastPage
                break paging
            }
            longestPage = max(longestPage, read.itemCount)
        }
        report.finishedAt = clock.now
        return report
    }

    /// Waits for a token of the rate limit; the reason to stop instead, if any.
    private func permit(_ target: some SweepTarget, stopping: () -> Bool) async -> SweepReport.Stop? {
        while true {
            if Task.isCancelled || stopping() { return .stopping }
            switch target.permitListCall(now: clock.now) {
            case .granted: return nil
            case .breakerOpen: return .breakerOpen
            case .stopping: return .stopping
            case .wait(let until):
                do {
                    try await clock.sleep(until: until)
                } catch {
                    return .stopping
                }
            }
        }
    }

    /// Gives each task of a page its verdict and sends the missed failures down the delivery
    /// path; the reason to stop, if the path refused one.
    private func look(
        at tasks: [ListedTask], target: some SweepTarget, report: inout SweepReport, stopping: () -> Bool
    ) async -> SweepReport.Stop? {
        report.listed += tasks.count
        let failed = tasks.filter { TaskStatusInfo.isFailure($0.status) }
        if failed.count < tasks.count { report.verdicts[.notFailed, default: 0] += tasks.count - failed.count }
        guard !failed.isEmpty else { return nil }
        let entries = await target.entries(of: failed.map(\.taskID))
        for task in failed {
            let verdict = Reconciliation.verdict(
                for: task, entry: entries[task.taskID], now: clock.now, lookback: settings.lookback)
            report.verdicts[verdict, default: 0] += 1
            var finding = SweepReport.Finding(
                task: task.taskID, status: task.status, error: task.error, updatedAt: task.updatedAt,
                verdict: verdict)
            defer { report.findings.append(finding) }
            guard verdict == .missed,
                let input = Reconciliation.delivery(for: task, correlationID: WebhookHandler.correlationID())
            else { continue }
            if Task.isCancelled || stopping() { return .stopping }
            finding.deliveryID = input.deliveryID.description
            do {
                finding.answer = try await target.deliver(input)
            } catch {
                return error.reason == .stopping ? .stopping : .journalUnavailable
            }
            log(input, answer: finding.answer)
        }
        return nil
    }

    private func log(_ input: DeliveryInput, answer: DeliveryAnswer?) {
        var metadata: Logger.Metadata = [
            "task_id": "\(input.notice.taskID)", "delivery_id": "\(input.deliveryID)",
            "correlation_id": "\(input.correlationID)", "status": "\(input.notice.status)",
        ]
        switch answer {
        case .accepted(let record, _, _):
            metadata["decision"] = "\(record.decision.rawValue)"
            metadata["reason"] = "\(record.reason.rawValue)"
            metadata["rule"] = "\(record.rule ?? "-")"
        case .duplicate(let seen):
            metadata["decision"] = "\(seen.decision.rawValue)"
            metadata["duplicate"] = "true"
        case .none:
            break
        }
        logger.info("missed failure found", metadata: metadata)
    }

    /// A failed list call in a few words (never a header or a body).
    static func describe(_ failure: HDPCallOutcome) -> String {
        switch failure {
        case .accepted: "HDP answered with an unexpected success"
        case .notFound: "HDP answered 404 (is GET /tasks served at this base URL?)"
        case .rejected(let details): "HDP answered 400" + (details.isEmpty ? "" : " (\(details))")
        case .unauthorized(let status): "HDP answered \(status): the API key was refused"
        case .rateLimited: "HDP answered 429"
        case .serverError(let status): status == 200 ? "HDP's answer was too large" : "HDP answered \(status)"
        case .timeout, .connectTimeout: "no answer within hdp.timeout"
        case .networkError(let reason), .connectionLost(let reason): reason
        }
    }
}

/// The live agent: list calls share the engine's rate limit and breaker, missed failures go
/// through ``RetryEngine/accept(_:)`` exactly as webhooks do.
public struct EngineSweepTarget: SweepTarget {
    public let engine: RetryEngine

    public init(engine: RetryEngine) {
        self.engine = engine
    }

    public func permitListCall(now: Date) -> ListCallPermit { engine.permitListCall(now: now) }

    public func entries(of tasks: [TaskID]) async -> [TaskID: TaskEntry] { await engine.store.entries(of: tasks) }

    public func deliver(_ input: DeliveryInput) async throws(DeliveryRefusal) -> DeliveryAnswer {
        try await engine.accept(input)
    }
}
