import AsyncHTTPClient
import Foundation
import Logging
import RetryCore
import RetryJournal
import RetryPostgres
import RetryRules
import Synchronization

/// A sweep against a read-only copy of the journal: list calls paced by a token bucket of its
/// own (`dispatch.rate_per_second` and `burst`: the agent's limit, which the live agent uses
/// too), missed failures decided with the same ``Decisions`` — and not journaled, not sent.
public final class LedgerSweepTarget: SweepTarget {
    private let ledger: Ledger
    private let bucket: Mutex<TokenBucket>
    private let classify: @Sendable (RuleEvent) -> Classification
    private let clock: any AgentClock

    public init(
        ledger: Ledger, dispatch: DispatchSettings, clock: any AgentClock,
        classify: @escaping @Sendable (RuleEvent) -> Classification
    ) {
        self.ledger = ledger
        self.bucket = Mutex(TokenBucket(rate: dispatch.ratePerSecond, burst: dispatch.burst))
        self.classify = classify
        self.clock = clock
    }

    public func permitListCall(now: Date) -> ListCallPermit {
        bucket.withLock { bucket in bucket.take(now: now) ? .granted : .wait(until: bucket.nextToken(now: now)) }
    }

    public func entries(of tasks: [TaskID]) async -> [TaskID: TaskEntry] {
        var entries: [TaskID: TaskEntry] = [:]
        for task in tasks {
            if let entry = ledger.tasks[task] { entries[task] = entry }
        }
        return entries
    }

    /// What the delivery path would answer; the ledger is left as it was.
    public func deliver(_ input: DeliveryInput) async throws(DeliveryRefusal) -> DeliveryAnswer {
        let now = clock.now.roundedToMilliseconds
        let entry = ledger.tasks[input.notice.taskID]
        switch ledger.decide(input, now: now, jitter: 0.5, classify: classify) {
        case .duplicate(let seen): return .duplicate(seen)
        case .record(let record):
            return .accepted(record, task: input.notice.taskID, attempt: (entry?.attempts ?? 0) + 1)
        }
    }
}

/// `hdp-retry-agent reconcile --dry-run`: what a sweep would pick up now, and why it would leave
/// the other failed tasks alone. It reads the journal without taking its lock (beside a live
/// agent, as `rules backtest` does) and writes nothing; it pages HDP's task list as a sweep does,
/// with the configured API key, and decides each missed failure with the configured rules.
public enum ReconcileDryRun {
    /// What the dry run found.
    public struct Outcome: Sendable {
        public var report: SweepReport
        /// The journal read (`nil` when there is none yet: every failure would be new).
        public var journalPath: String
        public var journalRecords: Int?
        /// The live agent's breaker, as the journal last recorded it: a sweep is skipped while
        /// it is open or half-open.
        public var breaker: BreakerSnapshot
        public var settings: ReconcileSettings
    }

    /// Loads the rules and the journal named by `configuration`, pages HDP, and reports.
    public static func run(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger
    ) async throws -> Outcome {
        let source: RulesSource =
            configuration.rules.pathIsExplicit
            ? .configured(configuration.rules.path) : .defaultPath(configuration.rules.path)
        let rules: RuleSet
        switch await source.loadOffThePool() {
        case .success(let loaded): rules = loaded.ruleSet
        case .failure(let error): throw ConfigurationError(["rules: \(error.description)"])
        }
        if let settings = configuration.postgresSettings {
            return try await runOnDatabase(
                settings, rules: rules, configuration: configuration, environment: environment, logger: logger)
        }
        var ledger = Ledger(dedupWindow: configuration.webhook.dedupWindow)
        let path = configuration.journal.path
        var records: Int?
        if FileManager.default.fileExists(atPath: path) {
            let bytes: [UInt8]
            do {
                bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw ConfigurationError(["journal \(path): \(error.localizedDescription)"])
            }
            // A live agent may be half-way through a line: it is left out, as a torn tail would be.
            let scan = JournalReader.scan(bytes) { ledger.apply($0) }
            ledger.rebuildDueQueue()
            if let bad = scan.corrupt.first {
                throw ConfigurationError(["journal \(path):\(bad.line): \(bad.problem) (see journal verify)"])
            }
            records = scan.records
        }
        let apiKey = try Secrets.hdpAPIKey(configuration: configuration, environment: environment)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let client = try HTTPHDPClient(
                baseURL: configuration.hdp.baseURL, apiKey: apiKey, timeout: configuration.hdp.timeout,
                httpClient: httpClient, logger: logger)
            let clock = SystemAgentClock()
            let target = LedgerSweepTarget(
                ledger: ledger, dispatch: configuration.dispatch, clock: clock, classify: { rules.classify($0) })
            let sweep = ReconcileSweep(
                settings: configuration.effectiveReconcile, client: client, clock: clock, logger: logger)
            let report = await sweep.run(against: target)
            try? await httpClient.shutdown()
            return Outcome(
                report: report, journalPath: path, journalRecords: records, breaker: ledger.breaker,
                settings: configuration.effectiveReconcile)
        } catch {
            try? await httpClient.shutdown()
            throw ConfigurationError(["hdp: \(error)"])
        }
    }

    /// The dry run on the PostgreSQL store: the tasks' rows and the dedup table, read without
    /// locks beside the live agents.
    private static func runOnDatabase(
        _ settings: PostgresStoreSettings, rules: RuleSet, configuration: AgentConfiguration,
        environment: [String: String], logger: Logger
    ) async throws -> Outcome {
        let apiKey = try Secrets.hdpAPIKey(configuration: configuration, environment: environment)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let client: HTTPHDPClient
        do {
            client = try HTTPHDPClient(
                baseURL: configuration.hdp.baseURL, apiKey: apiKey, timeout: configuration.hdp.timeout,
                httpClient: httpClient, logger: logger)
        } catch {
            try? await httpClient.shutdown()
            throw ConfigurationError(["hdp: \(error)"])
        }
        let outcome: Result<Outcome, any Error>
        do {
            outcome = .success(
                try await PostgresStore.withRunning(settings, logger: logger) { store in
                    let clock = SystemAgentClock()
                    let target = StoreSweepTarget(
                        store: store, dispatch: configuration.dispatch, clock: clock,
                        classify: { rules.classify($0) })
                    let sweep = ReconcileSweep(
                        settings: configuration.effectiveReconcile, client: client, clock: clock, logger: logger)
                    let report = await sweep.run(against: target)
                    return Outcome(
                        report: report, journalPath: settings.url.redacted,
                        journalRecords: try? await store.summary().records, breaker: await store.breakerSnapshot(),
                        settings: configuration.effectiveReconcile)
                })
        } catch {
            outcome = .failure(error)
        }
        try? await httpClient.shutdown()
        switch outcome {
        case .success(let outcome): return outcome
        case .failure(let error):
            throw ConfigurationError(["database \(settings.url.redacted): \(PostgresStore.describe(error))"])
        }
    }
}

/// A sweep against the PostgreSQL store, read-only: like ``LedgerSweepTarget``, with the tasks'
/// rows and the dedup table read from the database.
final class StoreSweepTarget: SweepTarget {
    private let store: PostgresStore
    private let bucket: Mutex<TokenBucket>
    private let classify: @Sendable (RuleEvent) -> Classification
    private let clock: any AgentClock

    init(
        store: PostgresStore, dispatch: DispatchSettings, clock: any AgentClock,
        classify: @escaping @Sendable (RuleEvent) -> Classification
    ) {
        self.store = store
        self.bucket = Mutex(TokenBucket(rate: dispatch.ratePerSecond, burst: dispatch.burst))
        self.classify = classify
        self.clock = clock
    }

    func permitListCall(now: Date) -> ListCallPermit {
        bucket.withLock { bucket in bucket.take(now: now) ? .granted : .wait(until: bucket.nextToken(now: now)) }
    }

    func entries(of tasks: [TaskID]) async -> [TaskID: TaskEntry] { await store.entries(of: tasks) }

    /// What the delivery path would answer; nothing is written.
    func deliver(_ input: DeliveryInput) async throws(DeliveryRefusal) -> DeliveryAnswer {
        let now = clock.now.roundedToMilliseconds
        let entry = await store.entries(of: [input.notice.taskID])[input.notice.taskID]
        let seen = await store.seenDelivery(input.deliveryKey, now: now)
        switch Decisions.delivery(input, seen: seen, entry: entry, now: now, jitter: 0.5, classify: classify) {
        case .duplicate(let seen): return .duplicate(seen)
        case .record(let record):
            return .accepted(record, task: input.notice.taskID, attempt: (entry?.attempts ?? 0) + 1)
        }
    }
}
