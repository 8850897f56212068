import Foundation
import Logging
import RetryCore
import RetryRules
import Synchronization

/// Settings the engine needs from the configuration.
public struct EngineSettings: Sendable {
    /// `dispatch.*`, `hdp.confirm_status`, `dry_run` and `circuit_breaker.*`.
    public var dispatch = DispatchSettings()
    /// `dispatch.retry_after_cap`: the longest `Retry-After` honoured.
    public var retryAfterCap: Duration = .seconds(3600)

    public init() {}
}

/// Why a delivery was not acknowledged (the listener answers 503 with `Retry-After`).
public struct DeliveryRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: String, Sendable, Hashable {
        case stopping
        case journalUnavailable = "journal_unavailable"
    }

    public var reason: Reason
    public var description: String {
        switch reason {
        case .stopping: "the agent is stopping"
        case .journalUnavailable: "the journal cannot take the write"
        }
    }
}

/// Carries out what the pure core decides: deliveries through ``Decisions`` into the store, and
/// the dispatch protocol of ``DispatchMachine`` (claim → status check → attempt → finish) with
/// the HDP client. It holds no state of its own beyond the machine; the store holds the tasks.
///
/// The machine sits behind a `Mutex`: its transitions are short and synchronous, and every
/// effect (an HTTP call, a journal append, a wait for durability) happens outside the lock.
public final class RetryEngine: Sendable {
    public let settings: EngineSettings
    public let store: any RetryStore
    let machine: Mutex<DispatchMachine>
    private let classify: @Sendable (RuleEvent) -> Classification
    private let clock: any AgentClock
    private let jitter: @Sendable () -> Double
    private let metrics: AgentMetrics?
    private let logger: Logger
    private let stopping = Mutex(false)
    /// Rung when new work may be due (a new episode, a finished item, shutdown).
    let doorbell = Doorbell()

    /// An engine over `store`, its breaker restored from `breaker` (the store's last snapshot).
    public init(
        store: any RetryStore, breaker: BreakerSnapshot, settings: EngineSettings, clock: any AgentClock,
        metrics: AgentMetrics?, logger: Logger, jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        classify: @escaping @Sendable (RuleEvent) -> Classification
    ) {
        self.store = store
        self.settings = settings
        self.machine = Mutex(DispatchMachine(settings: settings.dispatch, breaker: breaker))
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.jitter = jitter
        self.classify = classify
        metrics?.circuitState.set(breaker.state.gaugeValue)
    }

    /// Stops accepting deliveries (they get 503) and admitting work; what is in flight finishes.
    public func beginStopping() {
        stopping.withLock { $0 = true }
        machine.withLock { $0.beginStopping() }
        doorbell.ring()
    }

    public var isStopping: Bool { stopping.withLock { $0 } }

    /// The breaker's state as the dispatcher sees it.
    public var breakerState: BreakerSnapshot.State { machine.withLock { $0.breaker.state } }

    // MARK: Deliveries

    /// Decides a delivery, journals it, and returns once the record is durable.
    public func accept(_ input: DeliveryInput) async throws(DeliveryRefusal) -> DeliveryAnswer {
        guard !isStopping else { throw DeliveryRefusal(reason: .stopping) }
        let now = clock.now.roundedToMilliseconds
        let jitter = self.jitter()
        let classify = self.classify
        let answer: DeliveryAnswer
        do {
            answer = try await store.recordDelivery(input, now: now) { seen, entry in
                Decisions.delivery(input, seen: seen, entry: entry, now: now, jitter: jitter, classify: classify)
            }
        } catch {
            throw DeliveryRefusal(reason: error.isClosed ? .stopping : .journalUnavailable)
        }
        if case .accepted(let record, _, _) = answer {
            count(record)
            if record.decision == .retryScheduled { doorbell.ring() }
        }
        return answer
    }

    private func count(_ delivery: DeliveryRecord) {
        guard let metrics else { return }
        let rule = delivery.rule ?? DefaultRule.name
        switch delivery.decision {
        case .retryScheduled: metrics.decision(action: .retry, rule: rule)
        case .gaveUp:
            metrics.decision(action: .giveUp, rule: rule)
            metrics.episode(.gaveUp)
        case .exhausted:
            metrics.decision(action: .retry, rule: rule)
            metrics.episode(.exhausted)
        case .ignored:
            if delivery.reason == .rule { metrics.decision(action: .ignore, rule: rule) }
        case .coalesced: break
        }
    }

    // MARK: Dispatch

    /// Claims the due work that may start now (concurrency cap, rate limit, breaker) and says when
    /// to look again (`nil`: when the doorbell rings).
    public func claim() async -> (run: [DispatchMachine.Admitted], wakeAt: Date?) {
        if let shared = await store.sharedBreaker(), machine.withLock({ $0.adoptBreaker(shared) }) {
            metrics?.circuitState.set(shared.state.gaugeValue)
            logger.notice(
                "circuit breaker state taken from another agent",
                metadata: ["state": "\(shared.state.rawValue)", "trips": "\(shared.trips)"])
        }
        let now = clock.now
        let limit = machine.withLock { $0.reserve(now: now) }
        let due = limit > 0 ? await store.claimDue(now: now, limit: limit) : []
        let admission = machine.withLock { $0.admit(due, now: now) }
        for transition in admission.transitions { await journalBreaker(transition, at: now.roundedToMilliseconds) }
        if !admission.putBack.isEmpty { await store.release(admission.putBack) }
        let nextDue = await store.nextDue()
        var wakeAt = machine.withLock { $0.wakeAt(nextDue: nextDue, now: now) }
        if let poll = store.pollInterval, !isStopping {
            // Other agents schedule work and drop leases: look again at least this often.
            let latest = now.addingTimeInterval(poll.secondsDouble)
            wakeAt = min(wakeAt ?? latest, latest)
        }
        return (admission.run, wakeAt)
    }

    /// Runs one admitted work item to its end: the status check (when its first step says so),
    /// the decision, and the retry call once `attempt_started` is durable.
    public func run(_ admitted: DispatchMachine.Admitted, client: any HDPClient) async {
        let item = admitted.item
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(item.task)"
        logger[metadataKey: "correlation_id"] = "\(item.correlationID)"
        defer { doorbell.ring() }

        var checked: HDPStatusOutcome?
        if admitted.first == .checkStatus {
            let start = ContinuousClock.now
            let outcome = await client.status(of: item.task)
            metrics?.callDuration.record(ContinuousClock.now - start)
            metrics?.statusCheck(outcome.result)
            checked = outcome
        }
        let now = clock.now.roundedToMilliseconds
        let verdict: StatusVerdict?
        do {
            verdict = try await decideAfterStatus(item.task, checked: checked, now: now)
        } catch {
            machine.withLock { $0.unclaim(item.task) }
            await store.release([item.task])
            logger.warning(
                "the decision could not be journaled; the task keeps its place", metadata: ["error": "\(error)"])
            return
        }
        let (next, transition) = machine.withLock {
            $0.decided(item.task, checked: checked, verdict: verdict, now: now)
        }
        if let transition { await journalBreaker(transition, at: now) }
        report(verdict, logger: logger)
        guard case .awaitStart = next else { return }

        // attempt_started must be on disk before the call: a crash after the call then finds it.
        let durable: Bool
        do {
            try await store.makeDurable()
            durable = true
        } catch {
            durable = false
        }
        switch machine.withLock({ $0.started(item.task, durable: durable) }) {
        case .abandon:
            await store.release([item.task])
            logger.warning("the retry was not sent: its attempt could not be journaled; the task keeps its place")
        case .dryRun(let attempt):
            logger.notice("dry run: retry not sent", metadata: ["attempt": "\(attempt)", "rule": "\(item.rule)"])
            let finished = AttemptFinished(call: .retry, result: .dryRun, httpStatus: nil, detail: nil, nextDue: nil)
            _ = try? await store.update(item.task, now: clock.now.roundedToMilliseconds) { _ in
                StoreUpdate(records: [.attemptFinished(finished)], result: ())
            }
            _ = machine.withLock { $0.callFinished(item.task, outcome: nil, now: now) }
            metrics?.episode(.dryRun)
        case .send(let attempt):
            logger.info("sending retry", metadata: ["attempt": "\(attempt)", "rule": "\(item.rule)"])
            let start = ContinuousClock.now
            let outcome = await client.retry(item.task)
            await callFinished(item, outcome: outcome, duration: ContinuousClock.now - start, logger: logger)
        }
    }

    private func decideAfterStatus(
        _ task: TaskID, checked: HDPStatusOutcome?, now: Date
    ) async throws(StoreError) -> StatusVerdict? {
        let jitter = self.jitter()
        let classify = self.classify
        let cap = settings.retryAfterCap
        return try await store.update(task, now: now) { entry in
            Decisions.afterStatus(
                of: task, entry: entry, outcome: checked, now: now, jitter: jitter, retryAfterCap: cap,
                classify: classify
            ).map { StoreUpdate(records: [$0.record], result: $0) }
        }
    }

    private func report(_ verdict: StatusVerdict?, logger: Logger) {
        switch verdict {
        case .later(let finished):
            logger.info("status check failed; retry postponed", metadata: ["result": "\(finished.result.rawValue)"])
        case .end(let ended):
            metrics?.episode(ended.outcome)
            logger.info(
                "episode ended without a retry",
                metadata: ["outcome": "\(ended.outcome.rawValue)", "reason": "\(ended.reason.rawValue)"])
        case .call, .none:
            break
        }
    }

    /// Journals a retry call's outcome.
    private func callFinished(_ item: WorkItem, outcome: HDPCallOutcome, duration: Duration, logger: Logger) async {
        let now = clock.now.roundedToMilliseconds
        metrics?.call(outcome.result)
        metrics?.callDuration.record(duration)
        if let transition = machine.withLock({ $0.callFinished(item.task, outcome: outcome, now: now) }) {
            await journalBreaker(transition, at: now)
        }
        if case .unauthorized = outcome {
            logger.error(
                "HDP refused the API key; set HDP_API_KEY or hdp.api_key_file to a valid key. The task keeps its place."
            )
        }
        let jitter = self.jitter()
        let cap = settings.retryAfterCap
        let finished = try? await store.update(item.task, now: now) { entry in
            Decisions.afterCall(entry: entry, outcome: outcome, now: now, jitter: jitter, retryAfterCap: cap)
                .map { StoreUpdate(records: [.attemptFinished($0)], result: $0) }
        }
        guard let finished = finished ?? nil else { return }
        switch finished.result {
        case .accepted: metrics?.episode(.retried)
        case .notFound: metrics?.episode(.notFound)
        case .rejected: metrics?.episode(.rejected)
        default: break
        }
        logger.info(
            "retry call finished",
            metadata: [
                "rule": "\(item.rule)", "result": "\(finished.result.rawValue)",
                "http_status": "\(finished.httpStatus.map(String.init) ?? "-")",
            ]
        )
    }

    private func journalBreaker(_ snapshot: BreakerSnapshot, at time: Date) async {
        await store.recordBreaker(snapshot, now: time)
        metrics?.circuitTransition(to: snapshot.state)
        logger.notice(
            "circuit breaker changed state",
            metadata: [
                "state": "\(snapshot.state.rawValue)", "trips": "\(snapshot.trips)",
                "open_until": "\(snapshot.openUntil.map(ISO8601.format) ?? "-")",
            ]
        )
    }

    /// Sets the gauges derived from the store. Called before each scrape rather than after each
    /// record: counting open episodes walks every task, which has no place on the delivery path.
    public func refreshGauges() async {
        guard let metrics else { return }
        let gauges = await store.gauges(now: clock.now)
        metrics.pendingRetries.set(Double(gauges.openEpisodes))
        metrics.oldestPending.set(gauges.oldestOverdueSeconds)
        metrics.inFlight.set(Double(machine.withLock { $0.inFlight }))
    }
}
