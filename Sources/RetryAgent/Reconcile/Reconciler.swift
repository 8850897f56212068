import Foundation
import Logging
import RetryCore
import ServiceLifecycle
import Synchronization

/// Finds failures whose webhook never arrived (SPEC §7): runs a ``ReconcileSweep`` at start and
/// every `reconcile.interval` after, and one on request (`POST /-/reconcile`).
///
/// Sweeps never overlap: they all run in this service's own loop, one after the other. A request
/// that arrives while no sweep runs starts one at once; requests that arrive during a sweep are
/// answered by the next one, which starts as soon as the running one ends (so an answer is always
/// about a sweep that began after it was asked for), and requests waiting together share that
/// sweep. A sweep on request counts as the periodic one: the next periodic sweep is due an
/// interval after it began. With `reconcile.interval: 0` there is no periodic sweep, and sweeps
/// on request still run.
///
/// The loop waits on a doorbell with the injected ``AgentClock`` (as the ``Dispatcher`` does)
/// rather than on an `AsyncTimerSequence`, so tests drive the interval with a manual clock. On
/// graceful shutdown the sweep under way stops after the list call or delivery in progress (as
/// the dispatcher lets its calls finish; a call is bounded by `hdp.timeout`), and waiting
/// requests are answered that the agent is stopping.
public final class Reconciler: Service, Sendable {
    /// The answer to ``requestSweep()``.
    public enum RequestOutcome: Sendable, Hashable {
        case swept(SweepReport)
        /// The agent is stopping: no sweep ran.
        case stopping
    }

    private struct State {
        var waiting: [CheckedContinuation<RequestOutcome, Never>] = []
        var stopping = false
    }

    public let sweep: ReconcileSweep
    private let target: any SweepTarget
    private let metrics: ReconcileMetrics?
    private let logger: Logger
    private let state = Mutex(State())
    private let doorbell = Doorbell()

    public init(sweep: ReconcileSweep, target: any SweepTarget, metrics: ReconcileMetrics?, logger: Logger) {
        self.sweep = sweep
        self.target = target
        self.metrics = metrics
        self.logger = logger
    }

    /// Runs a sweep as soon as none is running and answers its report.
    public func requestSweep() async -> RequestOutcome {
        await withCheckedContinuation { continuation in
            let queued = state.withLock { state in
                guard !state.stopping else { return false }
                state.waiting.append(continuation)
                return true
            }
            if queued {
                doorbell.ring()
            } else {
                continuation.resume(returning: .stopping)
            }
        }
    }

    public func run() async throws {
        let settings = sweep.settings
        let clock = sweep.clock
        metrics?.interval.set(settings.interval.secondsDouble)
        if settings.isPeriodic {
            logger.info(
                "reconciliation sweeps on",
                metadata: [
                    "interval": "\(DurationText.format(settings.interval))", "max_pages": "\(settings.maxPages)",
                    "per_page": "\(settings.perPage)", "search": "\(settings.search ?? "-")",
                    "lookback": "\(DurationText.format(settings.lookback))",
                ])
        } else {
            logger.notice("reconciliation sweeps are off (reconcile.interval: 0); POST /-/reconcile still runs one")
        }
        await withGracefulShutdownHandler {
            var nextSweep: Date? = settings.isPeriodic ? clock.now : nil
            while !Task.isCancelled {
                let (waiting, stopping) = state.withLock { state in
                    defer { state.waiting.removeAll() }
                    return (state.waiting, state.stopping)
                }
                if stopping {
                    for request in waiting { request.resume(returning: .stopping) }
                    break
                }
                let due = nextSweep.map { clock.now >= $0 } ?? false
                guard due || !waiting.isEmpty else {
                    await doorbell.wait(until: nextSweep, clock: clock)
                    continue
                }
                let started = clock.now
                let report = await runOneSweep()
                for request in waiting { request.resume(returning: .swept(report)) }
                if settings.isPeriodic { nextSweep = started.addingTimeInterval(settings.interval.secondsDouble) }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.doorbell.ring()
        }
        let left = state.withLock { state in
            state.stopping = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for request in left { request.resume(returning: .stopping) }
    }

    /// One sweep, stopped early on graceful shutdown; counted, logged once, and reported.
    func runOneSweep() async -> SweepReport {
        let report = await sweep.run(against: target) { self.state.withLock { $0.stopping } }
        record(report)
        return report
    }

    private func record(_ report: SweepReport) {
        if let metrics {
            metrics.sweep(report.result)
            metrics.listCalls.increment(by: Int64(report.pages))
            metrics.found.increment(by: Int64(report.found))
            if report.result == .ok { metrics.lastSuccess.set(report.startedAt.timeIntervalSince1970) }
        }
        var metadata: Logger.Metadata = [
            "result": "\(report.result.rawValue)", "stop": "\(report.stop.rawValue)", "pages": "\(report.pages)",
            "listed": "\(report.listed)", "failed_tasks": "\(report.failedTasks)", "found": "\(report.found)",
            "seconds": "\(report.finishedAt.timeIntervalSince(report.startedAt))",
        ]
        if report.unreadable > 0 { metadata["unreadable"] = "\(report.unreadable)" }
        if let problem = report.problem { metadata["problem"] = "\(problem)" }
        switch report.result {
        case .failed:
            logger.warning("reconciliation sweep failed", metadata: metadata)
        case .skipped:
            logger.info("reconciliation sweep skipped", metadata: metadata)
        case .ok where report.unreadable > 0:
            logger.warning("reconciliation sweep could not read some tasks", metadata: metadata)
        case .ok:
            logger.log(level: report.found > 0 ? .info : .debug, "reconciliation sweep", metadata: metadata)
        }
    }
}

/// The reconciler, once the journal is replayed; `nil` before (`POST /-/reconcile` answers 503).
public final class ReconcilerHandle: Sendable {
    private let current = Mutex<Reconciler?>(nil)

    public init() {}

    public var reconciler: Reconciler? { current.withLock { $0 } }

    func publish(_ reconciler: Reconciler) { current.withLock { $0 = reconciler } }
}
