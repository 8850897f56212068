import Foundation
import Logging
import PostgresNIO
import RetryCore
import RetryJournal
import ServiceLifecycle
import Synchronization

/// PostgreSQL as a ``RetryStore``: the same decisions and the same journal records as the file
/// store, shared by any number of agents on one database (SPEC §8).
///
/// - Each task's state is a row of `hdp_retry_tasks`, decided under a row lock (`FOR UPDATE`), so
///   two agents never decide one task at once. The records a decision returns are folded into the
///   row with the ledger's own fold, and appended to `hdp_retry_journal` (the file journal's JSON
///   lines) in the same transaction.
/// - Deduplication is the primary key of `hdp_retry_deliveries`: of two agents given the same
///   delivery at once, one inserts the key and decides; the other waits for that transaction,
///   finds the key, and answers it as a duplicate.
/// - Deliveries are committed in groups (see ``DeliveryBatcher``) and answered only once their
///   transaction committed; when the database cannot commit, `unavailable` (503).
/// - Due retries are claimed with `FOR UPDATE SKIP LOCKED` and a lease; `attempt_started` is
///   committed before the call. A task whose lease ran out (its agent died) is claimed by
///   another agent, and its attempt, if one was started, is treated as interrupted.
/// - The breaker's state is one shared row; each agent adopts a change another made at its next
///   claim.
///
/// It is a `Service`: ``run()`` runs the connection pool and the maintenance (retention, the
/// reachability check behind `/readyz`).
public final class PostgresStore: RetryStore, Service, Sendable {
    /// What the store reports to metrics and logs.
    public enum Event: Sendable {
        /// Records were committed (`count`), in a transaction that took `seconds` to commit.
        case committed(records: Int, seconds: Double)
        /// A transaction failed; its deliveries were answered 503 (or its work put back).
        case failed
        /// Maintenance deleted ended tasks past retention and delivery ids past the dedup window.
        case maintained(tasks: Int, deliveries: Int)
        /// The journal table's size on disk (with its indexes), read every few seconds.
        case size(bytes: Int64)
    }

    public let settings: PostgresStoreSettings
    public let client: PostgresClient
    /// This agent's name in `lease_owner`: host, process id and a random suffix, so that a
    /// restarted agent never mistakes its predecessor's lease for its own.
    public let owner: String
    let logger: Logger
    let observe: @Sendable (Event) -> Void
    let batcher: DeliveryBatcher
    let local = Mutex(LocalState())

    struct LocalState {
        /// The breaker row's generation this agent last wrote or adopted.
        var breakerGeneration: Int64 = -1
        /// When the breaker row was last read for a change (it is read at most every 250 ms).
        var breakerReadAt: ContinuousClock.Instant?
        /// Whether the last statement reached the database.
        var reachable = true
        var closed = false
    }

    /// A store on `client` (run it with ``run()``, or in a service group).
    public init(
        settings: PostgresStoreSettings, client: PostgresClient, owner: String? = nil, logger: Logger,
        observe: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.settings = settings
        self.client = client
        self.owner = owner ?? Self.makeOwner()
        self.logger = logger
        self.observe = observe
        self.batcher = DeliveryBatcher(maxBatch: settings.maxBatch, concurrent: settings.concurrentBatches)
    }

    /// A store with a client of its own on `settings.url`.
    public convenience init(
        settings: PostgresStoreSettings, owner: String? = nil, logger: Logger,
        observe: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        let client = PostgresClient(
            configuration: settings.url.clientConfiguration(
                poolSize: settings.poolSize, serverTimeout: settings.transactionTimeout),
            backgroundLogger: logger)
        self.init(settings: settings, client: client, owner: owner, logger: logger, observe: observe)
    }

    static func makeOwner() -> String {
        let host = ProcessInfo.processInfo.hostName
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }

    /// Runs the connection pool and the maintenance until cancelled or shut down gracefully;
    /// deliveries after that are refused as `closed`.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.maintain() }
        }
        close()
    }

    /// Refuses every delivery from now on (`closed`).
    public func close() {
        local.withLock { $0.closed = true }
        batcher.close()
    }

    /// Whether the database answered the last statement (and the last periodic check).
    public var isReachable: Bool { local.withLock { $0.reachable } }

    func noteReachable(_ reachable: Bool) {
        local.withLock { $0.reachable = reachable }
    }

    /// Runs `body` in a transaction with a deadline, retrying it (up to 3 times in all) when the
    /// database aborted it for a deadlock or a serialization failure. Any other failure, or a
    /// transaction not committed by the deadline, is `unavailable`.
    func transaction<Result: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws(StoreError) -> Result {
        if local.withLock({ $0.closed }) { throw .closed }
        var lastError: any Error = StoreError.unavailable(what)
        for attempt in 1...3 {
            let started = ContinuousClock.now
            do {
                let result = try await withDeadline(settings.transactionTimeout) {
                    try await self.client.withTransaction(logger: self.logger) { connection in
                        try await body(connection)
                    }
                }
                noteReachable(true)
                _ = started
                return result
            } catch {
                lastError = error
                if Self.isRetryable(error), attempt < 3 { continue }
                break
            }
        }
        if !Self.isRetryable(lastError) { noteReachable(Self.isServerError(lastError)) }
        observe(.failed)
        logger.warning(
            "the database did not take the write",
            metadata: ["operation": "\(what)", "error": "\(Self.describe(lastError))"])
        throw .unavailable("database: \(Self.describe(lastError))")
    }

    /// Runs a statement outside a transaction (reads); `nil` when the database cannot be reached.
    func read<Result: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresClient) async throws -> Result
    ) async -> Result? {
        do {
            let result = try await withDeadline(settings.transactionTimeout) { try await body(self.client) }
            noteReachable(true)
            return result
        } catch {
            noteReachable(Self.isServerError(error))
            logger.warning(
                "a database read failed", metadata: ["operation": "\(what)", "error": "\(Self.describe(error))"])
            return nil
        }
    }

    /// A deadlock (`40P01`) or serialization failure (`40001`): the transaction may simply be
    /// run again.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = cause(of: error) as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40P01" || state == "40001"
    }

    /// The server answered with an error (it is reachable; the statement was refused).
    static func isServerError(_ error: any Error) -> Bool {
        (cause(of: error) as? PSQLError)?.serverInfo != nil
    }

    /// The error inside a failed transaction: its body's, else its `COMMIT`'s, else its `BEGIN`'s.
    public static func cause(of error: any Error) -> any Error {
        guard let failed = error as? PostgresTransactionError else { return error }
        return failed.closureError ?? failed.commitError ?? failed.beginError ?? failed.rollbackError ?? error
    }

    /// A short description of a database error for the log: the server's message and SQLSTATE, or
    /// the client's error code (never the query's bindings).
    public static func describe(_ error: any Error) -> String {
        let error = cause(of: error)
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                return "\(info[.message] ?? "error") (SQLSTATE \(info[.sqlState] ?? "?"))"
            }
            return "\(error.code)"
        }
        return String(describing: error)
    }

    /// Whether a work item or a delivery can be handed to the database now.
    var isClosed: Bool { local.withLock { $0.closed } }
}

/// A statement or transaction that did not finish within its deadline.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var description: String { "no answer from the database within the deadline" }
}

/// Runs `body`, cancelling it and throwing ``DeadlineExceeded`` when it has not finished within
/// `limit`.
func withDeadline<Result: Sendable>(
    _ limit: Duration, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw DeadlineExceeded() }
        return result
    }
}
