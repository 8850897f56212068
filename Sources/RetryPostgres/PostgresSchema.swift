import Logging
import PostgresNIO

/// The database schema, as numbered migrations applied in order at start.
///
/// Every agent runs ``migrate(_:logger:)`` when it starts. The migrations run in one transaction
/// under a transaction-scoped advisory lock, so N agents starting together migrate once: the
/// first takes the lock and applies what is missing, the others wait for it, then find nothing
/// left to do. `hdp_retry_schema_migrations` records each version applied.
///
/// The tables (prefixed `hdp_retry_`, so they can share a database with others):
///
/// | table | one row per | what it holds |
/// |---|---|---|
/// | `tasks` | task | `entry`: the task's state as the file journal's `task_snapshot` line; `state`, `attempts`, `updated_at`, `due` (open episode), `in_flight`, `lease_owner`, `lease_until` for queries and claims |
/// | `journal` | record | `seq`, `time`, `task_id`, `type`, `line`: the exact JSON line the file journal writes (without its newline) |
/// | `deliveries` | delivery id | `key` (the id's 128-bit dedup key, as a uuid), `at`, `task_id`, `decision`: the dedup table |
/// | `breaker` | — (one row) | the shared circuit breaker: `state`, `open_until_ms`, `trips`, `generation` |
public enum PostgresSchema {
    /// The advisory lock key migrations run under (`hdp_retry` in ASCII).
    static let migrationLock: Int64 = 0x6864_705f_7265_7472
    /// The advisory lock key maintenance (retention) runs under, so one agent at a time does it.
    static let maintenanceLock: Int64 = 0x6864_705f_6d61_696e

    /// The migrations, in order; version `n` is `migrations[n - 1]`. Never edit one that shipped:
    /// add the next.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE hdp_retry_tasks (
                task_id text PRIMARY KEY,
                entry text NOT NULL,
                state text NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL,
                due timestamptz,
                in_flight boolean NOT NULL DEFAULT false,
                lease_owner text,
                lease_until timestamptz
            )
            """,
            "CREATE INDEX hdp_retry_tasks_due ON hdp_retry_tasks (due, task_id) WHERE due IS NOT NULL",
            "CREATE INDEX hdp_retry_tasks_state ON hdp_retry_tasks (state, updated_at)",
            """
            CREATE TABLE hdp_retry_journal (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                seq bigint NOT NULL,
                time timestamptz NOT NULL,
                task_id text,
                type text NOT NULL,
                line text NOT NULL
            )
            """,
            "CREATE INDEX hdp_retry_journal_task ON hdp_retry_journal (task_id, seq) WHERE task_id IS NOT NULL",
            "CREATE INDEX hdp_retry_journal_seq_order ON hdp_retry_journal (seq, id)",
            "CREATE SEQUENCE hdp_retry_journal_seq",
            """
            CREATE TABLE hdp_retry_deliveries (
                key uuid PRIMARY KEY,
                at timestamptz NOT NULL,
                task_id text,
                decision text
            )
            """,
            "CREATE INDEX hdp_retry_deliveries_at ON hdp_retry_deliveries (at)",
            """
            CREATE TABLE hdp_retry_breaker (
                id integer PRIMARY KEY CHECK (id = 1),
                state text NOT NULL,
                open_until_ms bigint,
                trips integer NOT NULL,
                generation bigint NOT NULL
            )
            """,
            "INSERT INTO hdp_retry_breaker (id, state, open_until_ms, trips, generation) VALUES (1, 'closed', NULL, 0, 0)",
        ]
    ]

    /// The newest schema version this build knows.
    public static var latestVersion: Int { migrations.count }

    /// Applies the migrations the database lacks; returns the versions applied (empty when it was
    /// up to date). Refuses a database whose schema is newer than this build.
    @discardableResult
    public static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withTransaction(logger: logger) { connection -> [Int] in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger).consume()
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS hdp_retry_schema_migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger
            ).consume()
            var current = 0
            for try await version in try await connection.query(
                "SELECT coalesce(max(version), 0)::int8 FROM hdp_retry_schema_migrations", logger: logger
            ).decode(Int64.self) {
                current = Int(version)
            }
            guard current <= latestVersion else {
                throw SchemaError(
                    "the database's schema is version \(current), newer than this build's \(latestVersion): "
                        + "upgrade the agent")
            }
            var applied: [Int] = []
            for version in (current + 1)..<(latestVersion + 1) {
                for statement in migrations[version - 1] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).consume()
                }
                let number = Int64(version)
                try await connection.query(
                    "INSERT INTO hdp_retry_schema_migrations (version) VALUES (\(number))", logger: logger
                ).consume()
                applied.append(version)
            }
            return applied
        }
    }
}

/// The database's schema cannot be used by this build.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) { self.description = description }
}

extension PostgresRowSequence {
    /// Reads and drops every row (a statement whose rows are not needed).
    func consume() async throws {
        for try await _ in self {}
    }
}
