import Foundation
import PostgresNIO
import RetryCore
import RetryJournal

extension PostgresStore {
    public func recordDelivery(
        _ input: DeliveryInput, now: Date, decide: @Sendable (SeenDelivery?, TaskEntry?) -> DeliveryVerdict
    ) async throws(StoreError) -> DeliveryAnswer {
        // The closure is kept only while its batch is decided, and dropped before this returns.
        let result = await withoutActuallyEscaping(decide) { decide in
            await batcher.submit(input, now: now, decide: decide) { batch in await self.commit(batch) }
        }
        return try result.get()
    }

    /// Decides and commits a batch of deliveries in one transaction; one answer per delivery.
    ///
    /// 1. One statement locks the row of every task of the batch (inserting an empty placeholder
    ///    for a task never seen, so there is a row to lock), taking a sequence number for each
    ///    under its lock, and claims the delivery keys. A key inserted, or found past the dedup
    ///    window and taken over, is this batch's; a key another delivery holds is a duplicate,
    ///    answered with that delivery (an insert racing another agent's waits for its
    ///    transaction, then finds its key). Tasks and keys are each taken in sorted order, so two
    ///    batches cannot wait for each other in a circle.
    /// 2. A task with two new deliveries in the batch (rare) gets more sequence numbers, still
    ///    under its lock: each task's records are numbered in the order they are decided.
    /// 3. Each delivery is decided in arrival order on its task's entry as the earlier ones left
    ///    it, and its record folded in.
    /// 4. One statement writes the rows, the keys' decisions and the journal lines; commit.
    ///
    /// Four round trips for the whole batch: `BEGIN`, 1, 4, `COMMIT`.
    func commit(_ batch: [DeliveryBatcher.Pending]) async -> [Result<DeliveryAnswer, StoreError>] {
        let started = ContinuousClock.now
        let outcome: Result<([Result<DeliveryAnswer, StoreError>], Int), StoreError>
        do {
            outcome = .success(
                try await transaction("delivery") { connection in
                    try await self.decide(batch, on: connection)
                })
        } catch {
            outcome = .failure(error)
        }
        switch outcome {
        case .success(let (answers, records)):
            if records > 0 {
                observe(.committed(records: records, seconds: (ContinuousClock.now - started).secondsDouble))
            }
            return answers
        case .failure(let error):
            return batch.map { _ in .failure(error) }
        }
    }

    private func decide(
        _ batch: [DeliveryBatcher.Pending], on connection: PostgresConnection
    ) async throws -> ([Result<DeliveryAnswer, StoreError>], Int) {
        // The first delivery of each key claims it; a later one with the same key is its duplicate.
        var firstOfKey: [DeliveryKey: Int] = [:]
        for (index, pending) in batch.enumerated() where firstOfKey[pending.input.deliveryKey] == nil {
            firstOfKey[pending.input.deliveryKey] = index
        }
        let claims = firstOfKey.sorted { $0.key < $1.key }
        let keys = claims.map { $0.key.description }
        let keyTimes = claims.map { batch[$0.value].now }
        let keyTasks = claims.map { batch[$0.value].input.notice.taskID.rawValue }
        let batchTasks = Array(Set(batch.map(\.input.notice.taskID))).sorted()
        let taskTexts = batchTasks.map(\.rawValue)
        let window = settings.dedupWindow.secondsDouble
        let earliest = batch.map(\.now).min() ?? Date()

        // 1. Lock every task of the batch (inserting an empty placeholder row for a task never
        // seen), take one sequence number per task under its lock, and claim the keys.
        var claimed: Set<DeliveryKey> = []
        var seen: [DeliveryKey: SeenDelivery] = [:]
        var entries: [TaskID: TaskEntry] = [:]
        var sequence: [TaskID: [Int64]] = [:]
        let claimQuery: PostgresQuery = """
            WITH locked AS (
                INSERT INTO hdp_retry_tasks AS t (task_id, entry, state, updated_at)
                SELECT u.t, '', '', \(earliest) FROM unnest(\(taskTexts)::text[]) AS u(t) ORDER BY u.t
                ON CONFLICT (task_id) DO UPDATE SET task_id = EXCLUDED.task_id
                RETURNING t.task_id, t.entry, nextval('hdp_retry_journal_seq') AS seq
            ),
            keys AS (
                INSERT INTO hdp_retry_deliveries AS d (key, at, task_id, decision)
                SELECT u.k::uuid, u.a, u.t, NULL
                FROM unnest(\(keys)::text[], \(keyTimes)::timestamptz[], \(keyTasks)::text[]) AS u(k, a, t)
                ORDER BY u.k
                ON CONFLICT (key) DO UPDATE SET
                    at = CASE WHEN d.at < EXCLUDED.at - make_interval(secs => \(window)) THEN EXCLUDED.at ELSE d.at END,
                    task_id = CASE WHEN d.at < EXCLUDED.at - make_interval(secs => \(window))
                        THEN EXCLUDED.task_id ELSE d.task_id END,
                    decision = CASE WHEN d.at < EXCLUDED.at - make_interval(secs => \(window))
                        THEN NULL ELSE d.decision END
                RETURNING replace(d.key::text, '-', '') AS key, d.decision IS NULL AS ours, d.at, d.task_id, d.decision
            )
            SELECT true, task_id, entry, seq, false, NULL::timestamptz, NULL::text FROM locked
            UNION ALL
            SELECT false, key, task_id, NULL, ours, at, decision FROM keys
            """
        for try await (isTask, name, text, seq, ours, at, decision) in try await connection.query(
            claimQuery, logger: logger
        ).decode((Bool, String, String?, Int64?, Bool, Date?, String?).self) {
            if isTask {
                guard let task = TaskID(name) else { continue }
                if let seq { sequence[task, default: []].append(seq) }
                if let text, let (_, entry) = try TaskRow.decode(text) { entries[task] = entry }
                continue
            }
            guard let key = DeliveryKey(hex: name) else { continue }
            if ours {
                claimed.insert(key)
            } else {
                seen[key] = SeenDelivery(
                    key: key, at: at ?? earliest, task: text.flatMap(TaskID.init),
                    decision: decision.flatMap(DeliveryDecision.init(rawValue:)) ?? .ignored)
            }
        }

        // 2. A task with more than one new delivery in the batch needs more sequence numbers:
        // taken now, under its lock, so they follow the one it has.
        var perTask: [TaskID: Int] = [:]
        for (key, index) in claims where claimed.contains(key) {
            perTask[batch[index].input.notice.taskID, default: 0] += 1
        }
        let extra = perTask.values.reduce(0) { $0 + max(0, $1 - 1) }
        if extra > 0 {
            var more: [Int64] = []
            for try await seq in try await connection.query(
                "SELECT nextval('hdp_retry_journal_seq') FROM generate_series(1, \(Int64(extra))::int8)", logger: logger
            ).decode(Int64.self) {
                more.append(seq)
            }
            more.sort()
            for (task, count) in perTask.sorted(by: { $0.key < $1.key }) where count > 1 {
                sequence[task, default: []].append(contentsOf: more.prefix(count - 1))
                more.removeFirst(min(count - 1, more.count))
            }
        }

        // 3. Decide in arrival order.
        var answers: [Result<DeliveryAnswer, StoreError>] = []
        var changed: Set<TaskID> = []
        var records: [JournalRecord] = []
        var decisions: [DeliveryKey: DeliveryRecord] = [:]
        var dropped: [String] = []
        for (index, pending) in batch.enumerated() {
            let key = pending.input.deliveryKey
            let task = pending.input.notice.taskID
            if let earlier = seen[key] {
                answers.append(.success(.duplicate(earlier)))
                continue
            }
            if firstOfKey[key] != index || !claimed.contains(key) {
                // The same key earlier in this batch: that delivery's decision is the one to report.
                let first = firstOfKey[key].map { batch[$0] }
                let earlier = SeenDelivery(
                    key: key, at: first?.now ?? pending.now, task: task,
                    decision: decisions[key]?.decision ?? .ignored)
                answers.append(.success(.duplicate(earlier)))
                continue
            }
            let before = entries[task]
            switch pending.decide(nil, before) {
            case .duplicate(let earlier):
                dropped.append(key.description)
                claimed.remove(key)
                answers.append(.success(.duplicate(earlier)))
            case .record(let delivery):
                guard let seq = sequence[task]?.first else { throw RowError("ran out of sequence numbers") }
                sequence[task]?.removeFirst()
                let record = JournalRecord(seq: UInt64(seq), time: pending.now, task: task, body: .delivery(delivery))
                entries[task] = TaskRow.applying([record], to: before, task: task)
                changed.insert(task)
                records.append(record)
                decisions[key] = delivery
                answers.append(.success(.accepted(delivery, task: task, attempt: (before?.attempts ?? 0) + 1)))
            }
        }

        // 4. Write.
        let rows = changed.sorted().compactMap { task in entries[task].map { TaskRow.Columns(task: task, entry: $0) } }
        let unused = taskTexts.filter { text in !rows.contains { $0.task == text } }
        let decided = decisions.sorted { $0.key < $1.key }
        try await writeDelivered(
            rows: rows, decisions: decided.map { ($0.key.description, $0.value.decision.rawValue) },
            dropped: dropped, unused: unused, records: records, on: connection)
        return (answers, records.count)
    }

    /// Step 4 of a delivery batch: one statement.
    private func writeDelivered(
        rows: [TaskRow.Columns], decisions: [(String, String)], dropped: [String], unused: [String],
        records: [JournalRecord], on connection: PostgresConnection
    ) async throws {
        let lines = records.map(TaskRow.line)
        let query: PostgresQuery = """
            WITH changed AS (
                UPDATE hdp_retry_tasks AS t SET entry = u.entry, state = u.state, attempts = u.attempts,
                    updated_at = u.updated_at, due = CASE WHEN u.has_due THEN u.due END, in_flight = u.in_flight
                FROM unnest(\(rows.map(\.task))::text[], \(rows.map(\.entry))::text[], \(rows.map(\.state))::text[],
                    \(rows.map(\.attempts))::int8[], \(rows.map(\.updatedAt))::timestamptz[],
                    \(rows.map { $0.due ?? $0.updatedAt })::timestamptz[], \(rows.map { $0.due != nil })::bool[],
                    \(rows.map(\.inFlight))::bool[])
                    AS u(task_id, entry, state, attempts, updated_at, due, has_due, in_flight)
                WHERE t.task_id = u.task_id
            ),
            decided AS (
                UPDATE hdp_retry_deliveries AS d SET decision = u.decision
                FROM unnest(\(decisions.map(\.0))::text[], \(decisions.map(\.1))::text[]) AS u(key, decision)
                WHERE d.key = u.key::uuid
            ),
            dropped AS (
                DELETE FROM hdp_retry_deliveries WHERE key = ANY(\(dropped)::text[]::uuid[]) AND decision IS NULL
            ),
            unused AS (
                DELETE FROM hdp_retry_tasks WHERE task_id = ANY(\(unused)::text[]) AND entry = ''
            )
            INSERT INTO hdp_retry_journal (seq, time, task_id, type, line)
            SELECT u.seq, u.time, NULLIF(u.task_id, ''), u.type, u.line
            FROM unnest(\(records.map { Int64($0.seq) })::int8[], \(records.map(\.time))::timestamptz[],
                \(records.map { $0.task?.rawValue ?? "" })::text[], \(records.map(\.body.typeName))::text[],
                \(lines)::text[]) AS u(seq, time, task_id, type, line)
            """
        try await connection.query(query, logger: logger).consume()
    }
}
