import Foundation
import PostgresNIO
import RetryCore
import RetryJournal

extension PostgresStore {
    /// Claims up to `limit` due tasks for this agent: rows whose retry is due at `now` and that no
    /// agent holds (no lease, or a lease that ran out), earliest first, skipping rows another agent
    /// is locking right now. Each gets a lease of `store.postgres.lease` on the database's clock.
    /// A task claimed with an attempt started and never finished was interrupted (its agent died
    /// mid-call, or the outcome was never known): its work item begins with a status check.
    public func claimDue(now: Date, limit: Int) async -> [WorkItem] {
        guard limit > 0, !isClosed else { return [] }
        let owner = self.owner
        let lease = settings.lease.secondsDouble
        let count = Int64(limit)
        let logger = self.logger
        let rows = await read("claim") { client -> [(String, String)] in
            let query: PostgresQuery = """
                UPDATE hdp_retry_tasks AS t SET lease_owner = \(owner),
                    lease_until = clock_timestamp() + make_interval(secs => \(lease))
                FROM (
                    SELECT task_id FROM hdp_retry_tasks
                    WHERE due IS NOT NULL AND due <= \(now)
                        AND (lease_until IS NULL OR lease_until < clock_timestamp())
                    ORDER BY due, task_id LIMIT \(count) FOR UPDATE SKIP LOCKED
                ) AS c
                WHERE t.task_id = c.task_id
                RETURNING t.task_id, t.entry
                """
            var rows: [(String, String)] = []
            for try await row in try await client.query(query, logger: logger).decode((String, String).self) {
                rows.append(row)
            }
            return rows
        }
        var items: [(due: Date, item: WorkItem)] = []
        for (_, text) in rows ?? [] {
            guard let (task, entry) = try? TaskRow.decode(text), let episode = entry.episode else { continue }
            items.append(
                (
                    episode.schedule.due,
                    WorkItem(
                        task: task, correlationID: episode.correlationID, rule: episode.schedule.rule,
                        interrupted: episode.inFlightAttempt != nil)
                ))
        }
        return items.sorted { ($0.due, $0.item.task) < ($1.due, $1.item.task) }.map(\.item)
    }

    /// Gives claimed tasks back: their leases end now, and any agent may claim them.
    public func release(_ tasks: [TaskID]) async {
        guard !tasks.isEmpty else { return }
        let owner = self.owner
        let texts = tasks.map(\.rawValue)
        let logger = self.logger
        _ = await read("release") { client in
            try await client.query(
                """
                UPDATE hdp_retry_tasks SET lease_owner = NULL, lease_until = NULL
                WHERE task_id = ANY(\(texts)::text[]) AND lease_owner = \(owner)
                """, logger: logger
            ).consume()
        }
    }

    /// Runs `decide` on a claimed task's row under its lock, and commits what it returns before
    /// returning (so ``makeDurable()`` has nothing left to do). `nil` when the task has no entry,
    /// when another agent holds its lease (this agent's ran out and the task was taken over), or
    /// when `decide` returns `nil`.
    ///
    /// The lease is renewed by `attempt_started` (the call is about to go out) and ends with any
    /// other record (the work item is over: rescheduled or ended).
    public func update<Result: Sendable>(
        _ task: TaskID, now: Date, decide: @Sendable (TaskEntry) -> StoreUpdate<Result>?
    ) async throws(StoreError) -> Result? {
        let owner = self.owner
        let lease = settings.lease.secondsDouble
        let logger = self.logger
        let text = task.rawValue
        let outcome = try await withoutActuallyEscaping(decide) { decide async throws(StoreError) -> (Result?, Int) in
            try await transaction("update") { connection -> (Result?, Int) in
                let lockQuery: PostgresQuery = """
                    WITH locked AS MATERIALIZED (
                        SELECT entry, lease_owner FROM hdp_retry_tasks WHERE task_id = \(text) FOR UPDATE
                    )
                    SELECT l.entry, l.lease_owner, nextval('hdp_retry_journal_seq') FROM locked AS l
                    """
                var found: (String, String?, Int64)?
                for try await row in try await connection.query(lockQuery, logger: logger)
                    .decode((String, String?, Int64).self)
                {
                    found = row
                }
                guard let (entryText, leaseOwner, firstSeq) = found,
                    let (_, entry) = try TaskRow.decode(entryText)
                else { return (nil, 0) }
                // Only the lease holder decides for a claimed task. No holder is not this agent
                // either: its lease ran out, another agent took the task over and its work item
                // ended (which clears the lease) — an attempt decided now on this agent's old
                // status check could be a second paid retry.
                guard leaseOwner == owner else {
                    logger.warning(
                        "the task was taken over by another agent after this one's lease ran out; nothing recorded",
                        metadata: ["task_id": "\(task)", "lease_owner": "\(leaseOwner ?? "none")"])
                    return (nil, 0)
                }
                guard let update = decide(entry), !update.records.isEmpty else { return (nil, 0) }
                var seqs = [firstSeq]
                if update.records.count > 1 {
                    let more = Int64(update.records.count - 1)
                    for try await seq in try await connection.query(
                        "SELECT nextval('hdp_retry_journal_seq') FROM generate_series(1, \(more)::int8)",
                        logger: logger
                    ).decode(Int64.self) {
                        seqs.append(seq)
                    }
                }
                let records = zip(update.records, seqs).map { body, seq in
                    JournalRecord(seq: UInt64(seq), time: now, task: task, body: body)
                }
                guard let after = TaskRow.applying(records, to: entry, task: task) else { return (nil, 0) }
                let row = TaskRow.Columns(task: task, entry: after)
                let keepsLease: Bool
                if case .attemptStarted = update.records.last, after.episode != nil {
                    keepsLease = true
                } else {
                    keepsLease = false
                }
                let lines = records.map(TaskRow.line)
                let writeQuery: PostgresQuery = """
                    WITH changed AS (
                        UPDATE hdp_retry_tasks SET entry = \(row.entry), state = \(row.state),
                            attempts = \(row.attempts), updated_at = \(row.updatedAt), due = \(row.due),
                            in_flight = \(row.inFlight),
                            lease_owner = CASE WHEN \(keepsLease) THEN \(owner)::text END,
                            lease_until = CASE WHEN \(keepsLease)
                                THEN clock_timestamp() + make_interval(secs => \(lease)) END
                        WHERE task_id = \(text)
                    )
                    INSERT INTO hdp_retry_journal (seq, time, task_id, type, line)
                    SELECT u.seq, \(now), \(text), u.type, u.line
                    FROM unnest(\(records.map { Int64($0.seq) })::int8[], \(records.map(\.body.typeName))::text[],
                        \(lines)::text[]) AS u(seq, type, line)
                    """
                try await connection.query(writeQuery, logger: logger).consume()
                return (update.result, records.count)
            }
        }
        if outcome.1 > 0 { observe(.committed(records: outcome.1, seconds: 0)) }
        return outcome.0
    }

    /// Every update is committed before ``update(_:now:decide:)`` returns.
    public func makeDurable() async throws(StoreError) {
        if isClosed { throw .closed }
    }

    /// Records a breaker transition: the shared row (one more generation) and a `breaker` record.
    public func recordBreaker(_ snapshot: BreakerSnapshot, now: Date) async {
        let logger = self.logger
        let state = snapshot.state.rawValue
        let openUntil = snapshot.openUntil.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
        let trips = Int64(snapshot.trips)
        let generation = try? await transaction("breaker") { connection -> Int64 in
            var seq: Int64 = 0
            for try await value in try await connection.query(
                "SELECT nextval('hdp_retry_journal_seq')", logger: logger
            ).decode(Int64.self) {
                seq = value
            }
            let line = TaskRow.line(JournalRecord(seq: UInt64(seq), time: now, task: nil, body: .breaker(snapshot)))
            var generation: Int64 = 0
            let query: PostgresQuery = """
                WITH journaled AS (
                    INSERT INTO hdp_retry_journal (seq, time, task_id, type, line)
                    VALUES (\(seq), \(now), NULL, 'breaker', \(line))
                )
                UPDATE hdp_retry_breaker SET state = \(state), open_until_ms = \(openUntil), trips = \(trips),
                    generation = generation + 1
                WHERE id = 1 RETURNING generation
                """
            for try await value in try await connection.query(query, logger: logger).decode(Int64.self) {
                generation = value
            }
            return generation
        }
        if let generation { local.withLock { $0.breakerGeneration = generation } }
    }

    /// The shared breaker state (at start: the state to restore).
    public func breakerSnapshot() async -> BreakerSnapshot {
        guard let (snapshot, generation) = await readBreaker() else { return .closed }
        local.withLock { $0.breakerGeneration = generation }
        return snapshot
    }

    /// The shared breaker state when another agent changed it since this one last recorded or
    /// adopted it. Read at most every 250 ms (the dispatcher asks at every claim).
    public func sharedBreaker() async -> BreakerSnapshot? {
        let due = local.withLock { state -> Bool in
            let now = ContinuousClock.now
            if let last = state.breakerReadAt, now - last < .milliseconds(250) { return false }
            state.breakerReadAt = now
            return true
        }
        guard due, let (snapshot, generation) = await readBreaker() else { return nil }
        return local.withLock { state -> BreakerSnapshot? in
            guard generation != state.breakerGeneration else { return nil }
            state.breakerGeneration = generation
            return snapshot
        }
    }

    private func readBreaker() async -> (BreakerSnapshot, Int64)? {
        let logger = self.logger
        let row = await read("breaker") { client -> (String, Int64?, Int64, Int64)? in
            var found: (String, Int64?, Int64, Int64)?
            for try await row in try await client.query(
                "SELECT state, open_until_ms, trips::int8, generation FROM hdp_retry_breaker WHERE id = 1",
                logger: logger
            ).decode((String, Int64?, Int64, Int64).self) {
                found = row
            }
            return found
        }
        guard let (state, openUntil, trips, generation) = row ?? nil else { return nil }
        let snapshot = BreakerSnapshot(
            state: BreakerSnapshot.State(rawValue: state) ?? .closed,
            openUntil: openUntil.map { Date(timeIntervalSince1970: Double($0) / 1000) }, trips: Int(trips))
        return (snapshot, generation)
    }

    /// The earliest due time of a retry no agent holds.
    public func nextDue() async -> Date? {
        let logger = self.logger
        let due = await read("next due") { client -> Date? in
            var found: Date?
            for try await due in try await client.query(
                """
                SELECT due FROM hdp_retry_tasks WHERE due IS NOT NULL
                    AND (lease_until IS NULL OR lease_until < clock_timestamp())
                ORDER BY due LIMIT 1
                """, logger: logger
            ).decode(Date.self) {
                found = due
            }
            return found
        }
        return due ?? nil
    }

    /// Other agents schedule work too: look for it at least this often.
    public var pollInterval: Duration? { settings.pollInterval }
}
