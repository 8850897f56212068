import Foundation
import Logging
import PostgresNIO
import RetryCore
import RetryJournal

extension PostgresStore {
    /// Runs `body` with a store whose connection pool runs for as long as `body` does (tools, tests,
    /// the start-up migrations).
    public static func withRunning<Result: Sendable>(
        _ settings: PostgresStoreSettings, owner: String? = nil, logger: Logger,
        _ body: (PostgresStore) async throws -> Result
    ) async throws -> Result {
        // The pool's own log: errors only. Its `run()` starts beside the first statement, and the
        // pool warns about a lease asked for before it ran; the statement waits for it all the same.
        var background = logger
        background.logLevel = .error
        let client = PostgresClient(
            configuration: settings.url.clientConfiguration(poolSize: settings.poolSize), backgroundLogger: background)
        let store = PostgresStore(settings: settings, client: client, owner: owner, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.client.run() }
            defer { group.cancelAll() }
            try await store.connect(within: settings.transactionTimeout)
            return try await body(store)
        }
    }

    /// Waits until the database answers, at most `limit`: the pool goes on trying to connect to a
    /// server that refuses it (a closed port, a certificate it does not trust), and a tool would
    /// otherwise wait for ever.
    public func connect(within limit: Duration) async throws {
        let logger = self.logger
        do {
            try await withDeadline(limit) { try await self.client.query("SELECT 1", logger: logger).consume() }
        } catch is DeadlineExceeded {
            throw Unreachable(limit: limit)
        }
    }

    /// The database did not answer a first statement in time.
    public struct Unreachable: Error, CustomStringConvertible {
        var limit: Duration

        public var description: String {
            "no connection within \(limit.components.seconds) s (is it running, on that host and port? with TLS, "
                + "is its certificate trusted: sslrootcert?)"
        }
    }

    /// Applies the schema migrations the database lacks (see ``PostgresSchema``).
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await PostgresSchema.migrate(client, logger: logger)
    }

    /// What the database holds, for `journal inspect`.
    public struct Summary: Sendable {
        public var records: Int
        public var tasks: Int
        public var deliveries: Int
        public var states: [String: Int]
        public var breaker: BreakerSnapshot
    }

    /// Counts for `journal inspect` without `--task`.
    public func summary() async throws -> Summary {
        var records = 0
        var deliveries = 0
        var states: [String: Int] = [:]
        for try await count in try await client.query("SELECT count(*) FROM hdp_retry_journal", logger: logger)
            .decode(Int64.self)
        {
            records = Int(count)
        }
        for try await count in try await client.query("SELECT count(*) FROM hdp_retry_deliveries", logger: logger)
            .decode(Int64.self)
        {
            deliveries = Int(count)
        }
        for try await (state, count) in try await client.query(
            "SELECT state, count(*) FROM hdp_retry_tasks WHERE entry <> '' GROUP BY state", logger: logger
        ).decode((String, Int64).self) {
            states[state] = Int(count)
        }
        return Summary(
            records: records, tasks: states.values.reduce(0, +), deliveries: deliveries, states: states,
            breaker: await breakerSnapshot())
    }

    // MARK: Export

    /// Writes the journal table as the file journal's lines (each with its newline), in sequence
    /// order, handing `write` about 1 MiB at a time. Returns the number of records.
    @discardableResult
    public func exportJournal(_ write: ([UInt8]) throws -> Void) async throws -> Int {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var count = 0
        for try await line in try await client.query(
            "SELECT line FROM hdp_retry_journal ORDER BY seq, id", logger: logger
        ).decode(String.self) {
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            count += 1
            if buffer.count >= 1 << 20 {
                try write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try write(buffer) }
        return count
    }

    // MARK: Import

    /// What ``importJournal(_:)`` loaded.
    public struct ImportReport: Sendable {
        public var records: Int
        public var tasks: Int
        public var deliveries: Int
    }

    /// Why an import was refused.
    public struct ImportError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Loads a file journal (its whole content, as read) into an empty database, in one
    /// transaction: every record's line into the journal table, the replayed state of every task
    /// into its row, the remembered delivery ids into the dedup table, the breaker into its row,
    /// and the sequence past the journal's last number. Refuses a database that holds anything,
    /// and a journal with corrupt lines (`journal repair` first).
    public func importJournal(_ bytes: [UInt8]) async throws -> ImportReport {
        var ledger = Ledger(dedupWindow: settings.dedupWindow)
        var records: [JournalRecord] = []
        let scan = JournalReader.scan(bytes) { record in
            records.append(record)
            ledger.apply(record)
        }
        if let bad = scan.corrupt.first {
            throw ImportError(
                description: "line \(bad.line) of the journal is corrupt (\(bad.problem)); run journal repair first")
        }
        // Delivery ids are kept for the dedup window after the journal's last record, as a
        // restarted file store would keep them.
        if let last = records.last?.time { ledger.expireDeliveries(now: last) }
        let tasks = ledger.tasks.sorted { $0.key < $1.key }.map { TaskRow.Columns(task: $0.key, entry: $0.value) }
        let deliveries = ledger.deliveries.values.sorted { $0.key < $1.key }
        let breaker = ledger.breaker
        let lastSeq = Int64(max(ledger.lastSeq, 1))
        let hasRecords = !records.isEmpty
        let logger = self.logger
        do {
            try await load(
                records: records, tasks: tasks, deliveries: deliveries, breaker: breaker, lastSeq: lastSeq,
                hasRecords: hasRecords, logger: logger)
        } catch {
            throw Self.cause(of: error)
        }
        return ImportReport(records: records.count, tasks: tasks.count, deliveries: deliveries.count)
    }

    private func load(
        records: [JournalRecord], tasks: [TaskRow.Columns], deliveries: [SeenDelivery], breaker: BreakerSnapshot,
        lastSeq: Int64, hasRecords: Bool, logger: Logger
    ) async throws {
        try await client.withTransaction(logger: logger) { connection in
            var existing: Int64 = 0
            for try await count in try await connection.query(
                """
                SELECT (SELECT count(*) FROM hdp_retry_journal) + (SELECT count(*) FROM hdp_retry_tasks)
                    + (SELECT count(*) FROM hdp_retry_deliveries)
                """, logger: logger
            ).decode(Int64.self) {
                existing = count
            }
            guard existing == 0 else {
                throw ImportError(
                    description: "the database is not empty (\(existing) rows): import needs an empty one")
            }
            for chunk in stride(from: 0, to: records.count, by: 2000) {
                let part = records[chunk..<min(chunk + 2000, records.count)]
                try await connection.query(
                    """
                    INSERT INTO hdp_retry_journal (seq, time, task_id, type, line)
                    SELECT u.seq, u.time, NULLIF(u.task_id, ''), u.type, u.line
                    FROM unnest(\(part.map { Int64($0.seq) })::int8[], \(part.map(\.time))::timestamptz[],
                        \(part.map { $0.task?.rawValue ?? "" })::text[], \(part.map(\.body.typeName))::text[],
                        \(part.map(TaskRow.line))::text[]) WITH ORDINALITY AS u(seq, time, task_id, type, line, ord)
                    ORDER BY u.ord
                    """, logger: logger
                ).consume()
            }
            for chunk in stride(from: 0, to: tasks.count, by: 2000) {
                let part = tasks[chunk..<min(chunk + 2000, tasks.count)]
                try await connection.query(
                    """
                    INSERT INTO hdp_retry_tasks (task_id, entry, state, attempts, updated_at, due, in_flight)
                    SELECT u.task_id, u.entry, u.state, u.attempts, u.updated_at,
                        CASE WHEN u.has_due THEN u.due END, u.in_flight
                    FROM unnest(\(part.map(\.task))::text[], \(part.map(\.entry))::text[], \(part.map(\.state))::text[],
                        \(part.map(\.attempts))::int8[], \(part.map(\.updatedAt))::timestamptz[],
                        \(part.map { $0.due ?? $0.updatedAt })::timestamptz[], \(part.map { $0.due != nil })::bool[],
                        \(part.map(\.inFlight))::bool[])
                        AS u(task_id, entry, state, attempts, updated_at, due, has_due, in_flight)
                    """, logger: logger
                ).consume()
            }
            for chunk in stride(from: 0, to: deliveries.count, by: 2000) {
                let part = deliveries[chunk..<min(chunk + 2000, deliveries.count)]
                try await connection.query(
                    """
                    INSERT INTO hdp_retry_deliveries (key, at, task_id, decision)
                    SELECT u.key::uuid, u.at, NULLIF(u.task_id, ''), u.decision
                    FROM unnest(\(part.map(\.key.description))::text[], \(part.map(\.at))::timestamptz[],
                        \(part.map { $0.task?.rawValue ?? "" })::text[], \(part.map(\.decision.rawValue))::text[])
                        AS u(key, at, task_id, decision)
                    """, logger: logger
                ).consume()
            }
            let state = breaker.state.rawValue
            let openUntil = breaker.openUntil.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
            let trips = Int64(breaker.trips)
            try await connection.query(
                """
                UPDATE hdp_retry_breaker SET state = \(state), open_until_ms = \(openUntil), trips = \(trips),
                    generation = generation + 1
                WHERE id = 1
                """, logger: logger
            ).consume()
            if hasRecords {
                try await connection.query("SELECT setval('hdp_retry_journal_seq', \(lastSeq))", logger: logger)
                    .consume()
            }
        }
    }
}
