import Foundation
import Logging
import RetryCore
import RetryJournal

/// Settings the engine needs from the configuration.
public struct EngineSettings: Sendable {
    public var dedupWindow: Duration = .seconds(86_400)
    public var retention: Duration = .seconds(168 * 3600)
    public var compactAboveBytes: Int64 = 67_108_864
    public var retryAfterCap: Duration = .seconds(3600)
    public var confirmStatus = true
    public var dryRun = false
    public var breaker = CircuitBreakerSettings()

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

/// The answer to a delivery.
public enum DeliveryAnswer: Sendable, Hashable {
    /// New: journaled with this record.
    case accepted(DeliveryRecord, task: TaskID, attempt: Int)
    /// Seen before within the dedup window.
    case duplicate(SeenDelivery)
}

/// One due task handed to the dispatcher.
public struct WorkItem: Sendable, Hashable {
    public var task: TaskID
    public var correlationID: String
    public var rule: String
    /// A retry call was journaled as started and never finished (a crash): the status check is
    /// made whatever `hdp.confirm_status` says.
    public var interrupted: Bool
}

/// What the dispatcher does next with a work item.
public enum WorkStep: Sendable, Hashable {
    /// Send the retry call (its `attempt_started` is durable).
    case call(attempt: Int)
    /// Nothing more to do for now.
    case done
}

/// The agent's core: the ledger, the breaker and the journal writer behind one actor, so every
/// decision sees every earlier one.
///
/// Records are applied to the ledger as soon as they are appended (before they are durable);
/// every effect that depends on them — an HTTP answer, an HDP call — first waits until they are
/// durable. Because the journal is written in order, a durable record implies every earlier one
/// is durable too. A record whose write fails stays queued and is retried until it succeeds.
public actor RetryEngine {
    public let settings: EngineSettings
    private var ledger: Ledger
    private var breaker: CircuitBreaker
    private let writer: JournalWriter
    private let classify: @Sendable (RuleEvent) -> Classification
    private let clock: any AgentClock
    private let jitter: @Sendable () -> Double
    private let metrics: AgentMetrics?
    private let logger: Logger
    private var stopping = false
    /// The size of the last snapshot this process wrote; 0 until it writes one, so that a journal
    /// already above the threshold at start is compacted at its first append instead of growing
    /// without bound across restarts.
    private var lastCompactedSize: Int64 = 0
    let doorbell = Doorbell()

    public init(
        ledger: Ledger, settings: EngineSettings, writer: JournalWriter, clock: any AgentClock,
        metrics: AgentMetrics?, logger: Logger, jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        classify: @escaping @Sendable (RuleEvent) -> Classification
    ) {
        self.ledger = ledger
        self.settings = settings
        self.writer = writer
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.jitter = jitter
        self.classify = classify
        self.breaker = CircuitBreaker(settings: settings.breaker, restoring: ledger.breaker)
        metrics?.circuitState.set(ledger.breaker.state.gaugeValue)
    }

    /// A read-only copy of the ledger (admin views, tests).
    public var ledgerSnapshot: Ledger { ledger }

    /// Stops accepting deliveries (they get 503); the dispatcher finishes what is in flight.
    public func beginStopping() {
        stopping = true
        doorbell.ring()
    }

    public var isStopping: Bool { stopping }

    // MARK: Deliveries

    /// Decides a delivery, journals it, and returns once the record is durable.
    public func accept(_ input: DeliveryInput) async throws(DeliveryRefusal) -> DeliveryAnswer {
        guard !stopping else { throw DeliveryRefusal(reason: .stopping) }
        guard !writer.isFailing else { throw DeliveryRefusal(reason: .journalUnavailable) }
        let now = clock.now.roundedToMilliseconds
        let classify = self.classify
        switch ledger.decide(input, now: now, jitter: jitter(), classify: classify) {
        case .duplicate(let seen):
            // The original record may still be on its way to disk: answer only once it is there.
            try await waitDurable(ledger.lastSeq, failFast: true)
            return .duplicate(seen)
        case .record(let delivery):
            let attempts = ledger.tasks[input.notice.taskID]?.attempts ?? 0
            let seq = append(.delivery(delivery), task: input.notice.taskID, at: now)
            record(delivery)
            if delivery.decision == .retryScheduled { doorbell.ring() }
            try await waitDurable(seq, failFast: true)
            return .accepted(delivery, task: input.notice.taskID, attempt: attempts + 1)
        }
    }

    private func record(_ delivery: DeliveryRecord) {
        guard let metrics else { return }
        switch delivery.decision {
        case .retryScheduled: metrics.decision(action: .retry, rule: delivery.rule ?? "default")
        case .gaveUp:
            metrics.decision(action: .giveUp, rule: delivery.rule ?? "default")
            metrics.episode(.gaveUp)
        case .exhausted:
            metrics.decision(action: .retry, rule: delivery.rule ?? "default")
            metrics.episode(.exhausted)
        case .ignored:
            if delivery.reason == "rule" { metrics.decision(action: .ignore, rule: delivery.rule ?? "default") }
        case .coalesced: break
        }
    }

    private func waitDurable(_ seq: UInt64, failFast: Bool) async throws(DeliveryRefusal) {
        do {
            try await writer.waitDurable(seq, failFast: failFast)
        } catch {
            throw DeliveryRefusal(reason: .journalUnavailable)
        }
    }

    /// Appends a record: applies it to the ledger and queues it for the journal.
    @discardableResult
    private func append(_ body: RecordBody, task: TaskID?, at time: Date) -> UInt64 {
        let record = JournalRecord(seq: ledger.lastSeq + 1, time: time, task: task, body: body)
        ledger.apply(record)
        writer.enqueue(JournalCodec.encode(record), seq: record.seq)
        metrics?.journalRecords.increment()
        compactIfNeeded(now: time)
        return record.seq
    }

    // MARK: Dispatch

    /// Hands out up to `limit` due tasks the breaker lets through, and the time to look again.
    public func claimDue(limit: Int) -> (items: [WorkItem], wakeAt: Date?) {
        let now = clock.now
        var items: [WorkItem] = []
        if limit > 0, !stopping {
            let due = ledger.takeDue(now: now, limit: limit)
            for (index, task) in due.enumerated() {
                let (permitted, transition) = breaker.acquire(now: now)
                if let transition { journalBreaker(transition, at: now.roundedToMilliseconds) }
                guard permitted else {
                    // Every task taken and not handed out goes back, not only this one: a task
                    // left out of the due queue would never be dispatched again.
                    for waiting in due[index...] { ledger.putBack(waiting) }
                    break
                }
                guard let episode = ledger.tasks[task]?.episode else {
                    breaker.release()
                    continue
                }
                items.append(
                    WorkItem(
                        task: task, correlationID: episode.correlationID, rule: episode.schedule.rule,
                        interrupted: episode.inFlightAttempt != nil
                    )
                )
            }
        }
        var wakeAt = ledger.nextDue()
        if let blocked = breaker.blockedUntil, let due = wakeAt, due < blocked { wakeAt = blocked }
        return (items, wakeAt)
    }

    /// Gives a claimed task back untouched (the dispatcher could not run it).
    public func unclaim(_ item: WorkItem) {
        breaker.release()
        ledger.putBack(item.task)
        doorbell.ring()
    }

    /// Whether the status check is to be made for `item`.
    public nonisolated func needsStatusCheck(_ item: WorkItem) -> Bool {
        settings.confirmStatus || item.interrupted
    }

    /// Decides after the status check (`outcome` nil when none was made); journals the result.
    /// For `.call`, returns after `attempt_started` is durable.
    public func statusChecked(_ item: WorkItem, outcome: HDPStatusOutcome?) async -> WorkStep {
        let now = clock.now.roundedToMilliseconds
        if let outcome { recordStatusMetrics(outcome) }
        let verdict = ledger.decideAfterStatus(
            of: item.task, outcome: outcome, now: now, jitter: jitter(), retryAfterCap: settings.retryAfterCap,
            classify: classify
        )
        switch verdict {
        case .none:
            breaker.release()
            return .done
        case .later(let finished):
            recordBreaker(failure: outcomeIsBreakerFailure(outcome), now: now)
            append(.attemptFinished(finished), task: item.task, at: now)
            logger.info(
                "status check failed; retry postponed",
                metadata: [
                    "task_id": "\(item.task)", "correlation_id": "\(item.correlationID)",
                    "result": "\(finished.result)",
                ]
            )
            return .done
        case .end(let ended):
            if outcome != nil { recordBreaker(failure: false, now: now) } else { breaker.release() }
            append(.episodeEnded(ended), task: item.task, at: now)
            metrics?.episode(ended.outcome)
            logger.info(
                "episode ended without a retry",
                metadata: [
                    "task_id": "\(item.task)", "correlation_id": "\(item.correlationID)",
                    "outcome": "\(ended.outcome.rawValue)", "reason": "\(ended.reason)",
                ]
            )
            return .done
        case .call(let started):
            // The status check succeeded (or was skipped); the breaker permit carries on to the call.
            let seq = append(.attemptStarted(started), task: item.task, at: now)
            try? await writer.waitDurable(seq, failFast: false)
            guard ledger.tasks[item.task]?.episode?.inFlightAttempt == started.attempt else { return .done }
            return .call(attempt: started.attempt)
        }
    }

    /// Journals a retry call's outcome.
    public func callFinished(_ item: WorkItem, outcome: HDPCallOutcome?, duration: Duration) {
        let now = clock.now.roundedToMilliseconds
        let finished: AttemptFinished?
        if let outcome {
            metrics?.call(outcome.label)
            metrics?.callDuration.record(duration)
            recordBreaker(failure: outcome.isBreakerFailure, now: now)
            finished = ledger.decideAfterCall(
                of: item.task, outcome: outcome, now: now, jitter: jitter(), retryAfterCap: settings.retryAfterCap
            )
            if case .unauthorized = outcome {
                logger.error(
                    "HDP refused the API key; set HDP_API_KEY or hdp.api_key_file to a valid key. The task keeps its place.",
                    metadata: ["task_id": "\(item.task)", "correlation_id": "\(item.correlationID)"]
                )
            }
        } else {
            // Dry run: decided and journaled, not sent.
            breaker.release()
            finished = AttemptFinished(call: .retry, result: "dry_run", httpStatus: nil, detail: nil, nextDue: nil)
        }
        guard let finished else { return }
        append(.attemptFinished(finished), task: item.task, at: now)
        switch finished.result {
        case "accepted": metrics?.episode(.retried)
        case "not_found": metrics?.episode(.notFound)
        case "rejected": metrics?.episode(.rejected)
        case "dry_run": metrics?.episode(.dryRun)
        default: break
        }
        logger.info(
            "retry call finished",
            metadata: [
                "task_id": "\(item.task)", "correlation_id": "\(item.correlationID)", "rule": "\(item.rule)",
                "result": "\(finished.result)", "http_status": "\(finished.httpStatus.map(String.init) ?? "-")",
            ]
        )
        doorbell.ring()
    }

    private func outcomeIsBreakerFailure(_ outcome: HDPStatusOutcome?) -> Bool {
        if case .failure(let failure) = outcome { return failure.isBreakerFailure }
        return false
    }

    private func recordStatusMetrics(_ outcome: HDPStatusOutcome) {
        switch outcome {
        case .status(let info): metrics?.statusCheck(info.isFailed ? "failed" : "not_failed")
        case .failure(let failure): metrics?.statusCheck(failure.label)
        }
    }

    private func recordBreaker(failure: Bool, now: Date) {
        if let transition = breaker.record(failure: failure, now: now) { journalBreaker(transition, at: now) }
    }

    private func journalBreaker(_ snapshot: BreakerSnapshot, at time: Date) {
        append(.breaker(snapshot), task: nil, at: time)
        metrics?.circuitTransition(to: snapshot.state)
        logger.notice(
            "circuit breaker changed state",
            metadata: [
                "state": "\(snapshot.state.rawValue)", "trips": "\(snapshot.trips)",
                "open_until": "\(snapshot.openUntil.map(ISO8601.format) ?? "-")",
            ]
        )
    }

    /// Sets the gauges derived from the ledger. Called before each scrape rather than after each
    /// record: counting open episodes walks every task, which has no place on the delivery path.
    public func refreshGauges() {
        guard let metrics else { return }
        metrics.pendingRetries.set(Double(ledger.openEpisodeCount))
        metrics.oldestPending.set(ledger.oldestOverdue(now: clock.now))
    }

    // MARK: Compaction

    private func compactIfNeeded(now: Date) {
        let size = writer.file.size
        guard size > settings.compactAboveBytes, size > 2 * lastCompactedSize else { return }
        compact(now: now)
    }

    /// Rewrites the journal as a snapshot of the live state (see ``JournalWriter/enqueueReplacement(_:seq:)``).
    public func compact(now: Date? = nil) {
        let now = (now ?? clock.now).roundedToMilliseconds
        ledger.expireDeliveries(now: now)
        ledger.dropTasks(olderThan: settings.retention, now: now)
        let bytes = JournalCodec.snapshotBytes(of: ledger, at: now)
        lastCompactedSize = Int64(bytes.count)
        writer.enqueueReplacement(bytes, seq: ledger.lastSeq)
        metrics?.journalCompactions.increment()
        logger.info(
            "journal compaction queued",
            metadata: ["snapshot_bytes": "\(bytes.count)", "tasks": "\(ledger.tasks.count)"])
    }
}
