import AsyncAlgorithms
import Foundation
import PostgresNIO
import RetryCore
import RetryJournal
import ServiceLifecycle

extension PostgresStore {
    /// A task's row and its journal lines, oldest first.
    public func view(of task: TaskID) async -> TaskView? {
        let text = task.rawValue
        let logger = self.logger
        let found = await read("view") { client -> (String?, [String]) in
            var entry: String?
            for try await row in try await client.query(
                "SELECT entry FROM hdp_retry_tasks WHERE task_id = \(text) AND entry <> ''", logger: logger
            ).decode(String.self) {
                entry = row
            }
            guard entry != nil else { return (nil, []) }
            var lines: [String] = []
            for try await line in try await client.query(
                "SELECT line FROM hdp_retry_journal WHERE task_id = \(text) ORDER BY seq, id", logger: logger
            ).decode(String.self) {
                lines.append(line)
            }
            return (entry, lines)
        }
        guard let (entryText, lines) = found, let entryText, let (_, entry) = try? TaskRow.decode(entryText) else {
            return nil
        }
        let history = lines.compactMap { try? JournalCodec.decode(Array($0.utf8)) }
        return TaskView(task: task, entry: entry, history: history)
    }

    /// Up to `limit` tasks in `state`: open episodes most overdue first, ended ones most recently
    /// changed first (as the file store orders them).
    public func tasks(in state: TaskState, limit: Int, now: Date) async -> [TaskSummary] {
        let stateText = state.rawValue
        let count = Int64(max(0, limit))
        let order = state.isOpen ? "due, task_id" : "updated_at DESC, task_id"
        let logger = self.logger
        let rows = await read("tasks") { client -> [String] in
            var rows: [String] = []
            let query: PostgresQuery = """
                SELECT entry FROM hdp_retry_tasks WHERE state = \(stateText)
                ORDER BY \(unescaped: order) LIMIT \(count)
                """
            for try await entry in try await client.query(query, logger: logger).decode(String.self) {
                rows.append(entry)
            }
            return rows
        }
        return (rows ?? []).compactMap { text in
            (try? TaskRow.decode(text)).flatMap { $0 }.map { TaskSummary(task: $0.task, entry: $0.entry) }
        }
    }

    /// Open episodes, and how far the most overdue retry no agent holds is past due.
    public func gauges(now: Date) async -> StoreGauges {
        let logger = self.logger
        let row = await read("gauges") { client -> (Int64, Date?) in
            var found: (Int64, Date?) = (0, nil)
            for try await row in try await client.query(
                """
                SELECT count(*), min(due) FILTER (WHERE lease_until IS NULL OR lease_until < clock_timestamp())
                FROM hdp_retry_tasks WHERE due IS NOT NULL
                """, logger: logger
            ).decode((Int64, Date?).self) {
                found = row
            }
            return found
        }
        guard let (open, oldest) = row else { return StoreGauges(openEpisodes: 0, oldestOverdueSeconds: 0) }
        return StoreGauges(
            openEpisodes: Int(open), oldestOverdueSeconds: oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }

    /// The entries of those of `tasks` that have a row.
    public func entries(of tasks: [TaskID]) async -> [TaskID: TaskEntry] {
        guard !tasks.isEmpty else { return [:] }
        let texts = tasks.map(\.rawValue)
        let logger = self.logger
        let rows = await read("entries") { client -> [String] in
            var rows: [String] = []
            for try await entry in try await client.query(
                "SELECT entry FROM hdp_retry_tasks WHERE task_id = ANY(\(texts)::text[]) AND entry <> ''",
                logger: logger
            ).decode(String.self) {
                rows.append(entry)
            }
            return rows
        }
        var entries: [TaskID: TaskEntry] = [:]
        for text in rows ?? [] {
            if let (task, entry) = (try? TaskRow.decode(text)) ?? nil { entries[task] = entry }
        }
        return entries
    }

    // MARK: Maintenance

    /// Every few seconds, checks that the database answers (`/readyz`); every
    /// `maintenanceInterval` (and once at start), deletes what retention and the dedup window let
    /// go — compaction's work on the file journal. Stops at graceful shutdown.
    func maintain() async {
        var lastMaintenance: ContinuousClock.Instant?
        func check() async {
            let reachable = await ping()
            noteReachable(reachable)
            let now = ContinuousClock.now
            guard reachable, lastMaintenance.map({ now - $0 >= settings.maintenanceInterval }) ?? true else { return }
            lastMaintenance = now
            await deleteExpired(now: Date())
        }
        await check()
        for await _ in AsyncTimerSequence(interval: .seconds(2), clock: .continuous).cancelOnGracefulShutdown() {
            await check()
        }
    }

    /// Whether the database answers; reports the journal table's size on the way.
    private func ping() async -> Bool {
        do {
            let size = try await withDeadline(.seconds(5)) { () -> Int64 in
                var size: Int64 = 0
                for try await bytes in try await self.client.query(
                    "SELECT pg_total_relation_size('hdp_retry_journal')", logger: self.logger
                ).decode(Int64.self) {
                    size = bytes
                }
                return size
            }
            observe(.size(bytes: size))
            return true
        } catch {
            return false
        }
    }

    /// Deletes ended tasks not touched within `retention` (their rows and journal lines),
    /// delivery ids older than the dedup window, and empty placeholder rows older than a minute,
    /// under an advisory lock so one agent at a time does it. Returns (tasks, deliveries) deleted.
    @discardableResult
    public func deleteExpired(now: Date) async -> (tasks: Int, deliveries: Int) {
        let taskCutoff = now.addingTimeInterval(-settings.retention.secondsDouble)
        let deliveryCutoff = now.addingTimeInterval(-settings.dedupWindow.secondsDouble)
        let placeholderCutoff = now.addingTimeInterval(-60)
        let logger = self.logger
        let counts = try? await transaction("retention") { connection -> (Int, Int) in
            var locked = false
            for try await value in try await connection.query(
                "SELECT pg_try_advisory_xact_lock(\(PostgresSchema.maintenanceLock))", logger: logger
            ).decode(Bool.self) {
                locked = value
            }
            guard locked else { return (0, 0) }
            var tasks = 0
            for try await count in try await connection.query(
                """
                WITH gone AS (
                    DELETE FROM hdp_retry_tasks
                    WHERE (due IS NULL AND entry <> '' AND lease_owner IS NULL AND updated_at < \(taskCutoff))
                        OR (entry = '' AND updated_at < \(placeholderCutoff))
                    RETURNING task_id
                ),
                lines AS (DELETE FROM hdp_retry_journal WHERE task_id IN (SELECT task_id FROM gone))
                SELECT count(*) FROM gone
                """, logger: logger
            ).decode(Int64.self) {
                tasks = Int(count)
            }
            var deliveries = 0
            for try await count in try await connection.query(
                """
                WITH gone AS (DELETE FROM hdp_retry_deliveries WHERE at < \(deliveryCutoff) RETURNING 1)
                SELECT count(*) FROM gone
                """, logger: logger
            ).decode(Int64.self) {
                deliveries = Int(count)
            }
            try await connection.query(
                """
                DELETE FROM hdp_retry_journal WHERE task_id IS NULL AND time < \(taskCutoff)
                    AND id < (SELECT max(id) FROM hdp_retry_journal WHERE type = 'breaker')
                """, logger: logger
            ).consume()
            return (tasks, deliveries)
        }
        guard let counts else { return (0, 0) }
        if counts.0 > 0 || counts.1 > 0 {
            observe(.maintained(tasks: counts.0, deliveries: counts.1))
            logger.info(
                "deleted what is past retention and the dedup window",
                metadata: ["tasks": "\(counts.0)", "deliveries": "\(counts.1)"])
        }
        return counts
    }
}

extension PostgresStore {
    /// The delivery remembered under `key` inside the dedup window at `now`, read without a lock
    /// (`reconcile --dry-run`).
    public func seenDelivery(_ key: DeliveryKey, now: Date) async -> SeenDelivery? {
        let text = key.description
        let cutoff = now.addingTimeInterval(-settings.dedupWindow.secondsDouble)
        let logger = self.logger
        let row = await read("seen delivery") { client -> (Date, String?, String)? in
            var found: (Date, String?, String)?
            for try await row in try await client.query(
                """
                SELECT at, task_id, decision FROM hdp_retry_deliveries
                WHERE key = \(text)::uuid AND at >= \(cutoff) AND decision IS NOT NULL
                """, logger: logger
            ).decode((Date, String?, String).self) {
                found = row
            }
            return found
        }
        guard let (at, task, decision) = row ?? nil else { return nil }
        return SeenDelivery(
            key: key, at: at, task: task.flatMap(TaskID.init),
            decision: DeliveryDecision(rawValue: decision) ?? .ignored
        )
    }
}
