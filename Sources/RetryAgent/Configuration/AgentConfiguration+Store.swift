import Foundation
import RetryCore
import RetryPostgres
import RetryRules

/// Where the agent keeps its state (`store.backend`).
public enum StoreBackend: String, Sendable, Hashable, CaseIterable {
    /// The file journal (`journal.*`): one agent, nothing else to run. The default.
    case file
    /// A PostgreSQL database (`store.postgres.*`) shared by any number of agents.
    case postgres
}

/// `store.*` (SPEC §8).
public struct StoreSettings: Sendable {
    /// The most connections one agent may be configured to open.
    public static let maximumPoolSize = 100
    /// The shortest lease that may be configured.
    public static let minimumLease = Duration.seconds(1)

    public var backend: StoreBackend = .file
    /// `store.postgres.url`, or `HDP_RETRY_DATABASE_URL` (which wins): a secret, never logged.
    public var postgresURL: String?
    /// `store.postgres.pool_size`: connections this agent opens at most.
    public var poolSize = 8
    /// `store.postgres.lease`: how long a claimed task stays this agent's.
    public var lease: Duration = .seconds(120)
    /// Where `store.postgres.url` was set in the file (for errors).
    var urlLocation: SourceLocation?

    public init() {}
}

extension AgentConfiguration {
    /// Reads the `store` section strictly.
    func readStore(_ value: YAMLValue?, _ log: DiagnosticLog) -> StoreSettings {
        var settings = store
        guard let value, let section = value.mapping(log, what: "store") else { return settings }
        if let backend = section.take("backend")?.oneOf(StoreBackend.self, log, what: "store.backend") {
            settings.backend = backend
        }
        if let value = section.take("postgres"), let postgres = value.mapping(log, what: "store.postgres") {
            if let url = postgres.take("url"), !url.isNull, let text = url.string(log, what: "store.postgres.url") {
                settings.postgresURL = text
                settings.urlLocation = url.location
            }
            if let size = postgres.take("pool_size")?.int(
                log, what: "store.postgres.pool_size", in: 1...StoreSettings.maximumPoolSize)
            {
                settings.poolSize = size
            }
            if let item = postgres.take("lease"), let lease = item.duration(log, what: "store.postgres.lease") {
                if lease < StoreSettings.minimumLease {
                    log.error("store.postgres.lease must be at least 1s", at: item.location)
                } else {
                    settings.lease = lease
                }
            }
            postgres.finish(log)
        }
        section.finish(log)
        return settings
    }

    /// What is wrong with `store` against the rest of the configuration.
    func storeProblems() -> [String] {
        guard store.backend == .postgres else { return [] }
        var problems: [String] = []
        let place = store.urlLocation.map { "\($0): " } ?? ""
        switch store.postgresURL.map(PostgresURL.parse) {
        case .none:
            problems.append(
                "store.backend is postgres: set HDP_RETRY_DATABASE_URL (or store.postgres.url) to "
                    + "postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        case .failure(let problem):
            // The URL may hold a password: say what is wrong, never what it is.
            problems.append("\(place)the database URL \(problem.description)")
        case .success:
            break
        }
        // A work item is a status check and a call, each bounded by hdp.timeout; a lease that ran
        // out mid-call would let another agent take the task over while the call is out.
        if store.lease < hdp.timeout * 3 {
            problems.append(
                "store.postgres.lease (\(DurationText.format(store.lease))) must be at least 3 × hdp.timeout "
                    + "(\(DurationText.format(hdp.timeout * 3))): a lease must outlast a status check and a retry call")
        }
        return problems
    }

    /// The PostgreSQL store's settings, when `store.backend` is `postgres` and its URL reads.
    public var postgresSettings: PostgresStoreSettings? {
        guard store.backend == .postgres, let text = store.postgresURL, case .success(let url) = PostgresURL.parse(text)
        else { return nil }
        var settings = PostgresStoreSettings(url: url)
        settings.poolSize = store.poolSize
        settings.lease = store.lease
        settings.dedupWindow = webhook.dedupWindow
        settings.retention = journal.retention
        return settings
    }
}

extension AgentConfiguration {
    /// The database the tools (`journal export|import|inspect`) work on: `HDP_RETRY_DATABASE_URL`
    /// or `store.postgres.url`, whatever `store.backend` says.
    public func databaseSettings() -> Result<PostgresStoreSettings, ConfigurationError> {
        guard let text = store.postgresURL else {
            return .failure(
                ConfigurationError(["no database: set HDP_RETRY_DATABASE_URL, or store.postgres.url in --config"]))
        }
        switch PostgresURL.parse(text) {
        case .failure(let problem): return .failure(ConfigurationError(["the database URL \(problem.description)"]))
        case .success(let url):
            var settings = PostgresStoreSettings(url: url)
            settings.poolSize = 2
            settings.lease = store.lease
            settings.dedupWindow = webhook.dedupWindow
            settings.retention = journal.retention
            return .success(settings)
        }
    }
}
