import Foundation
import RetryCore

/// A ``RetryStore`` that keeps a ``Ledger`` in memory and nothing on disk: every record is
/// "durable" at once, unless a test says writes fail (``failWrites``). For unit tests of what
/// sits above the store seam (the engine, the dispatcher) without a file or a clock.
public actor MemoryStore: RetryStore {
    public private(set) var ledger: Ledger
    /// Every record appended, in order.
    public private(set) var records: [JournalRecord] = []
    /// While set, deliveries and ``makeDurable()`` throw `unavailable` and nothing is handed out;
    /// records appended meanwhile are kept (they would be written once the disk recovers).
    public var failWrites = false

    public init(dedupWindow: Duration = .seconds(86_400)) {
        ledger = Ledger(dedupWindow: dedupWindow)
    }

    /// Sets ``failWrites``.
    public func setFailWrites(_ failing: Bool) { failWrites = failing }

    public func recordDelivery(
        _ input: DeliveryInput, now: Date, decide: @Sendable (SeenDelivery?, TaskEntry?) -> DeliveryVerdict
    ) throws(StoreError) -> DeliveryAnswer {
        guard !failWrites else { throw .unavailable("writes fail (test)") }
        let task = input.notice.taskID
        let entry = ledger.tasks[task]
        switch decide(ledger.seenDelivery(input.deliveryKey, now: now), entry) {
        case .duplicate(let seen): return .duplicate(seen)
        case .record(let delivery):
            append(.delivery(delivery), task: task, at: now)
            return .accepted(delivery, task: task, attempt: (entry?.attempts ?? 0) + 1)
        }
    }

    public func claimDue(now: Date, limit: Int) -> [WorkItem] {
        guard !failWrites else { return [] }
        return ledger.takeDue(now: now, limit: limit).compactMap { task in
            guard let episode = ledger.tasks[task]?.episode else { return nil }
            return WorkItem(
                task: task, correlationID: episode.correlationID, rule: episode.schedule.rule,
                interrupted: episode.inFlightAttempt != nil)
        }
    }

    public func release(_ tasks: [TaskID]) {
        for task in tasks { ledger.putBack(task) }
    }

    public func update<Result: Sendable>(
        _ task: TaskID, now: Date, decide: @Sendable (TaskEntry) -> StoreUpdate<Result>?
    ) -> Result? {
        guard let entry = ledger.tasks[task], let update = decide(entry) else { return nil }
        for body in update.records { append(body, task: task, at: now) }
        return update.result
    }

    public func makeDurable() throws(StoreError) {
        guard !failWrites else { throw .unavailable("writes fail (test)") }
    }

    public func recordBreaker(_ snapshot: BreakerSnapshot, now: Date) {
        append(.breaker(snapshot), task: nil, at: now)
    }

    public func breakerSnapshot() -> BreakerSnapshot { ledger.breaker }

    public func nextDue() -> Date? { ledger.nextDue() }

    public func view(of task: TaskID) -> TaskView? {
        guard let entry = ledger.tasks[task] else { return nil }
        return TaskView(task: task, entry: entry, history: records.filter { $0.task == task })
    }

    public func tasks(in state: TaskState, limit: Int, now: Date) -> [TaskSummary] {
        ledger.tasks(in: state, limit: limit)
    }

    public func gauges(now: Date) -> StoreGauges {
        StoreGauges(openEpisodes: ledger.openEpisodeCount, oldestOverdueSeconds: ledger.oldestOverdue(now: now))
    }

    private func append(_ body: RecordBody, task: TaskID?, at time: Date) {
        let record = JournalRecord(seq: ledger.lastSeq + 1, time: time, task: task, body: body)
        records.append(record)
        ledger.apply(record)
    }
}
