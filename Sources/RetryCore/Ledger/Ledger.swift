import DequeModule
import HeapModule

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The handling of one failure of a task, from the notice that opened it to its outcome.
public struct Episode: Sendable, Hashable {
    /// The sequence number of the delivery that opened it.
    public var openedSeq: UInt64
    public var openedAt: Date
    /// The correlation id of the opening delivery, carried into every log line of its retries.
    public var correlationID: String
    public var schedule: EpisodeSchedule
    /// The freshest status and error known (notice, then status checks).
    public var status: String
    public var error: String?
    /// Transient failures so far in this episode: the exponent of the backoff.
    public var tries: Int
    /// The attempt number of a retry call journaled as started and not yet finished.
    public var inFlightAttempt: Int?
    /// The body of the notice that opened the episode (bounded), when its delivery record kept
    /// it: a reclassification after a status check decides on it with the fresh status and error.
    public var payload: DeliveryPayload?

    public init(
        openedSeq: UInt64, openedAt: Date, correlationID: String, schedule: EpisodeSchedule, status: String,
        error: String?, tries: Int, inFlightAttempt: Int?, payload: DeliveryPayload? = nil
    ) {
        self.openedSeq = openedSeq
        self.openedAt = openedAt
        self.correlationID = correlationID
        self.schedule = schedule
        self.status = status
        self.error = error
        self.tries = tries
        self.inFlightAttempt = inFlightAttempt
        self.payload = payload
    }
}

/// Everything the agent knows about one task.
///
/// The open episode is kept out of line (``episode`` reads and writes it as a plain value): most
/// tasks have none, and an entry without the episode's 160-odd bytes inline makes the ledger's
/// task table a quarter of the size, so replay's lookups in it miss the processor's caches far
/// less often.
public struct TaskEntry: Sendable, Hashable {
    /// Retries HDP accepted, across episodes (what `max_attempts` limits).
    public var attempts: Int = 0
    /// When HDP last accepted a retry; notices older than this are stale.
    public var lastAcceptedAt: Date?
    public var state: TaskState = .ended(.ignored)
    /// Failures of the task up to this time have been decided: the time of the last delivery
    /// record whose failure the rules decided or that joined an open episode (not one that was
    /// stale, not a failure, or already decided). A notice, or a failure in HDP's task list, not
    /// later than this is one the agent has handled, whatever delivery id it comes under (SPEC §7:
    /// a sweep and a late webhook never double a failure). Like the stale rule, it compares HDP's
    /// times with the agent's, so it takes the two clocks to agree to within a webhook's delivery
    /// time; it never takes a sender's `timestamp` as a time the agent decided anything.
    public var decidedThrough: Date? {
        get { decidedThroughStorage == .distantPast ? nil : decidedThroughStorage }
        set { decidedThroughStorage = newValue ?? .distantPast }
    }
    /// ``decidedThrough``, `distantPast` for none: a plain `Date` keeps the entry at 48 bytes where
    /// an optional one would make it 56 (the task table is what replay walks).
    private var decidedThroughStorage = Date.distantPast
    /// The time of the last record about the task (for retention).
    public var updatedAt: Date
    private var episodeStorage: EpisodeStorage?

    public init(updatedAt: Date) {
        self.updatedAt = updatedAt
    }

    /// Whether an episode is open (without reading it).
    public var hasEpisode: Bool { episodeStorage != nil }

    /// The open episode, when a retry is pending or in flight.
    public var episode: Episode? {
        // A borrow of the boxed value: reading one field must not copy the whole episode.
        _read {
            if let storage = episodeStorage {
                yield storage.episode
            } else {
                yield nil
            }
        }
        _modify {
            // Copy on write: a box shared with another copy of the entry is never written.
            if episodeStorage != nil, !isKnownUniquelyReferenced(&episodeStorage) {
                episodeStorage = EpisodeStorage(episodeStorage?.episode)
            }
            // The episode is swapped out of its box and back, not copied: a copy would retain
            // every string it holds, and release them again after.
            var episode: Episode?
            if let storage = episodeStorage { swap(&episode, &storage.episode) }
            defer {
                if case .none = episode {
                    episodeStorage = nil
                } else {
                    let storage = episodeStorage ?? EpisodeStorage(nil)
                    swap(&episode, &storage.episode)
                    episodeStorage = storage
                }
            }
            yield &episode
        }
    }

    public static func == (lhs: TaskEntry, rhs: TaskEntry) -> Bool {
        lhs.attempts == rhs.attempts && lhs.lastAcceptedAt == rhs.lastAcceptedAt && lhs.state == rhs.state
            && lhs.decidedThrough == rhs.decidedThrough && lhs.updatedAt == rhs.updatedAt && lhs.episode == rhs.episode
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(attempts)
        hasher.combine(lastAcceptedAt)
        hasher.combine(state)
        hasher.combine(decidedThrough)
        hasher.combine(updatedAt)
        hasher.combine(episode)
    }
}

/// The box that holds a task's open episode out of line.
///
/// `@unchecked Sendable`: it is only written through ``TaskEntry/episode``'s `_modify`, after a
/// uniqueness check that copies a shared box first, so a box two values can see is never
/// written; `TaskEntry` keeps value semantics.
private final class EpisodeStorage: @unchecked Sendable {
    var episode: Episode?

    init(_ episode: Episode?) {
        self.episode = episode
    }
}

/// The agent's whole state, as a fold over the journal.
///
/// ``apply(_:)`` is the only way it changes, both when the journal is replayed at start and after
/// each new record is appended, so replay and live operation cannot drift apart. Decisions are
/// pure functions over it (see `Ledger+Decisions.swift`) that return records to append.
public struct Ledger: Sendable {
    /// Delivery ids are remembered this long.
    public let dedupWindow: Duration
    public private(set) var lastSeq: UInt64 = 0
    public private(set) var tasks: [TaskID: TaskEntry] = [:]
    public private(set) var deliveries = DeliveryTable()
    public private(set) var breaker: BreakerSnapshot = .closed
    /// Records that did not fit the state (e.g. a finish without a start); counted, never fatal.
    public private(set) var anomalies: Int = 0

    private var deliveryOrder: Deque<(key: DeliveryKey, at: Date)> = []
    private var dueHeap: Heap<DueEntry> = []
    /// Set while ``replay(_:)`` runs: episodes are not queued one by one, the queue is rebuilt
    /// from the open episodes at the end (nothing takes from it meanwhile).
    private var dueQueueDeferred = false

    public init(dedupWindow: Duration) {
        self.dedupWindow = dedupWindow
    }

    /// Tasks whose episode is open (pending or in flight).
    ///
    /// A scrape asks for it: it looks at each entry's episode box without copying the episode (a
    /// copy retains every string it holds), which keeps it to a fraction of a millisecond at
    /// 100,000 tasks.
    public var openEpisodeCount: Int {
        var count = 0
        for entry in tasks.values where entry.hasEpisode { count += 1 }
        return count
    }

    /// Folds one record into the state.
    ///
    /// The record is consumed: its strings move into the state rather than being copied.
    public mutating func apply(_ record: consuming JournalRecord) {
        let seq = record.seq
        let time = record.time
        let task = record.task
        lastSeq = max(lastSeq, seq)
        // The body is swapped out of the record (for a placeholder without references) so that
        // its strings move into the state: reading it out would copy them.
        var body = RecordBody.breaker(.closed)
        swap(&body, &record.body)
        switch consume body {
        case .delivery(let delivery):
            remember(SeenDelivery(key: delivery.deliveryKey, at: time, task: task, decision: delivery.decision))
            guard let task else { return }
            applyDelivery(delivery, task: task, seq: seq, time: time)
        case .attemptStarted(let started):
            guard let task else { return anomaly() }
            update(task, at: time) { entry in
                // In place: copying the episode out and back would retain and release its strings.
                guard entry.episode != nil else { return false }
                if let schedule = started.reclassified { entry.episode?.schedule = schedule }
                entry.episode?.status = started.status
                entry.episode?.inFlightAttempt = started.attempt
                entry.state = .inFlight
                return true
            }
        case .attemptFinished(let finished):
            guard let task else { return anomaly() }
            var due: Date?
            update(task, at: time) { entry in
                guard Self.applyFinished(finished, to: &entry, at: time) else { return false }
                due = entry.episode?.schedule.due
                return true
            }
            if let due { schedule(task, due: due) }
        case .episodeEnded(let ended):
            guard let task else { return anomaly() }
            update(task, at: time) { entry in
                guard entry.episode != nil else { return false }
                if ended.countsAttempt {
                    entry.attempts += 1
                    entry.lastAcceptedAt = time
                }
                entry.episode = nil
                entry.state = .ended(ended.outcome)
                return true
            }
        case .breaker(let snapshot):
            breaker = snapshot
        case .taskSnapshot(let snapshot):
            guard let task else { return anomaly() }
            var entry = TaskEntry(updatedAt: time)
            entry.attempts = snapshot.attempts
            entry.lastAcceptedAt = snapshot.lastAcceptedAt
            entry.state = snapshot.state
            entry.decidedThrough = snapshot.decidedThrough
            var episode = snapshot.episode
            if let payload = episode?.payload {
                // A snapshot written before episodes kept only what rules read may hold more.
                episode?.payload = payload.forReclassification
            }
            entry.episode = episode
            tasks[task] = entry
            if let due = snapshot.episode?.schedule.due { schedule(task, due: due) }
        case .deliveriesSnapshot(let seen):
            for delivery in seen { remember(delivery) }
        }
    }

    private mutating func anomaly() { anomalies += 1 }

    /// Changes the task's entry in place (no copy out and back: this is the replay hot path).
    /// `change` must leave the entry untouched when it returns `false`.
    private mutating func update(_ task: TaskID, at time: Date, _ change: (inout TaskEntry) -> Bool) {
        guard let index = tasks.index(forKey: task) else { return anomaly() }
        if change(&tasks.values[index]) {
            tasks.values[index].updatedAt = time
        } else {
            anomaly()
        }
    }

    private mutating func applyDelivery(_ delivery: consuming DeliveryRecord, task: TaskID, seq: UInt64, time: Date) {
        let index: [TaskID: TaskEntry].Index
        if let existing = tasks.index(forKey: task) {
            index = existing
        } else {
            // A task first seen reads `ignored` until a decision says otherwise.
            tasks[task] = TaskEntry(updatedAt: time)
            guard let inserted = tasks.index(forKey: task) else { return }
            index = inserted
        }
        tasks.values[index].updatedAt = time
        if delivery.decidesFailure { tasks.values[index].decidedThrough = time }
        switch delivery.decision {
        case .retryScheduled:
            guard let schedule = delivery.schedule else { return anomaly() }
            tasks.values[index].episode = Episode(
                openedSeq: seq, openedAt: time, correlationID: delivery.correlationID,
                schedule: schedule, status: delivery.status, error: delivery.error, tries: 0,
                inFlightAttempt: nil, payload: delivery.payload?.forReclassification
            )
            tasks.values[index].state = .pending
            self.schedule(task, due: schedule.due)
        case .coalesced:
            if tasks.values[index].episode?.inFlightAttempt == nil, tasks.values[index].episode != nil {
                tasks.values[index].episode?.status = delivery.status
                tasks.values[index].episode?.error = delivery.error
            }
        case .gaveUp:
            tasks.values[index].state = .ended(.gaveUp)
        case .exhausted:
            tasks.values[index].state = .ended(.exhausted)
        case .ignored:
            // An ignored notice (stale, not a failure, an `ignore` rule) leaves an open episode or
            // an earlier outcome as it was.
            break
        }
    }

    private static func applyFinished(_ finished: AttemptFinished, to entry: inout TaskEntry, at time: Date) -> Bool {
        guard entry.episode != nil else { return false }
        // A retry whose outcome is unknown keeps its attempt marked as started: like one a crash
        // interrupted, its next try begins with a status check.
        if finished.call == .retry, !finished.outcomeUnknown { entry.episode?.inFlightAttempt = nil }
        switch (finished.call, finished.result) {
        case (.retry, .accepted):
            entry.attempts += 1
            entry.lastAcceptedAt = time
            entry.episode = nil
            entry.state = .ended(.retried)
        case (.retry, .notFound):
            entry.episode = nil
            entry.state = .ended(.notFound)
        case (.retry, .rejected):
            entry.episode = nil
            entry.state = .ended(.rejected)
        case (.retry, .dryRun):
            entry.episode = nil
            entry.state = .ended(.dryRun)
        default:
            // Transient (or unauthorized): the episode stays open and waits for `nextDue`.
            entry.episode?.tries += 1
            if let due = finished.nextDue { entry.episode?.schedule.due = due }
            entry.state = .pending
        }
        return true
    }

    private mutating func remember(_ delivery: SeenDelivery) {
        // An id seen again after its window replaces the old entry; the queue gets the new time
        // too (the old queue entry is skipped when it comes up, see `expireDeliveries`).
        deliveries.storage[delivery.key] = DeliveryTable.Remembered(delivery)
        deliveryOrder.append((delivery.key, delivery.at))
        expireDeliveries(now: delivery.at)
    }

    /// Forgets delivery ids older than the dedup window.
    public mutating func expireDeliveries(now: Date) {
        let cutoff = now.addingTimeInterval(-dedupWindow.secondsDouble)
        while let first = deliveryOrder.first, first.at < cutoff {
            deliveryOrder.removeFirst()
            if let index = deliveries.storage.index(forKey: first.key), deliveries.storage.values[index].at == first.at
            {
                deliveries.storage.remove(at: index)
            }
        }
    }

    /// The remembered delivery with `key`, if it is inside the dedup window at `now`.
    public func seenDelivery(_ key: DeliveryKey, now: Date) -> SeenDelivery? {
        guard let seen = deliveries[key] else { return nil }
        return seen.at >= now.addingTimeInterval(-dedupWindow.secondsDouble) ? seen : nil
    }

    // MARK: Due queue

    private struct DueEntry: Comparable {
        var due: Date
        var task: TaskID
        static func < (lhs: DueEntry, rhs: DueEntry) -> Bool {
            lhs.due == rhs.due ? lhs.task < rhs.task : lhs.due < rhs.due
        }
    }

    private mutating func schedule(_ task: TaskID, due: Date) {
        guard !dueQueueDeferred else { return }
        dueHeap.insert(DueEntry(due: due, task: task))
    }

    /// Whether a heap entry still describes a pending episode (entries are invalidated lazily).
    private func isCurrent(_ entry: DueEntry) -> Bool {
        guard let episode = tasks[entry.task]?.episode else { return false }
        return episode.schedule.due == entry.due
    }

    /// The earliest due time of a pending episode, dropping stale queue entries on the way.
    public mutating func nextDue() -> Date? {
        while let min = dueHeap.min {
            if isCurrent(min) { return min.due }
            dueHeap.removeMin()
        }
        return nil
    }

    /// Removes and returns up to `limit` tasks due at `now`, earliest first. The caller owns them
    /// until it appends their next record; a task handed out is not handed out again until a record
    /// reschedules it.
    public mutating func takeDue(now: Date, limit: Int) -> [TaskID] {
        var taken: [TaskID] = []
        while taken.count < limit, let min = dueHeap.min, min.due <= now {
            dueHeap.removeMin()
            if isCurrent(min), !taken.contains(min.task) { taken.append(min.task) }
        }
        return taken
    }

    /// Rebuilds the due queue from the open episodes alone. Replay schedules every episode each
    /// time it is rescheduled and nothing takes from the queue meanwhile; this drops the stale
    /// entries at once instead of lazily.
    public mutating func rebuildDueQueue() {
        dueHeap = Heap(
            tasks.compactMap { task, entry in entry.episode.map { DueEntry(due: $0.schedule.due, task: task) } })
    }

    /// Prepares for folding a whole journal with ``apply(_:)``: makes room for `expectedDeliveries`
    /// remembered deliveries up front (not grown and rehashed step by step), and stops queueing
    /// episodes one by one as they are rescheduled; ``endBulkLoad()`` rebuilds the queue once from
    /// the open episodes. The state is the same as from applying the records one by one.
    public mutating func beginBulkLoad(expectedDeliveries: Int) {
        if expectedDeliveries > deliveries.capacity { deliveries.storage.reserveCapacity(expectedDeliveries) }
        dueQueueDeferred = true
    }

    /// Ends a bulk load begun with ``beginBulkLoad(expectedDeliveries:)``.
    public mutating func endBulkLoad() {
        dueQueueDeferred = false
        rebuildDueQueue()
    }

    /// Puts a task handed out by ``takeDue(now:limit:)`` back, unchanged (e.g. the breaker opened).
    public mutating func putBack(_ task: TaskID) {
        if let due = tasks[task]?.episode?.schedule.due { schedule(task, due: due) }
    }

    /// How long the most overdue pending retry has been past its due time.
    public mutating func oldestOverdue(now: Date) -> TimeInterval {
        guard let due = nextDue() else { return 0 }
        return max(0, now.timeIntervalSince(due))
    }

    /// Tasks with a retry call journaled as started and never finished: a crash interrupted them.
    public var interruptedTasks: [TaskID] {
        tasks.compactMap { $0.value.episode?.inFlightAttempt != nil ? $0.key : nil }.sorted()
    }

    /// Drops ended tasks not touched within `retention` (their attempt counts go with them).
    public mutating func dropTasks(olderThan retention: Duration, now: Date) {
        let cutoff = now.addingTimeInterval(-retention.secondsDouble)
        // Removed in place: building a filtered copy would allocate and fill a new table of every
        // task on each compaction, while usually few or none are past retention.
        let expired = tasks.compactMap { $0.value.episode == nil && $0.value.updatedAt < cutoff ? $0.key : nil }
        for task in expired { tasks.removeValue(forKey: task) }
    }
}
