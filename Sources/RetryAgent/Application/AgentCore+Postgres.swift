import Foundation
import Logging
import RetryCore
import RetryPostgres
import ServiceLifecycle
import Synchronization

extension AgentCore {
    /// The PostgreSQL store: migrate the schema (under its advisory lock) and read the shared
    /// breaker, retrying every few seconds while the database cannot be reached (`/readyz` says
    /// `database` meanwhile); then run the store's pool and maintenance first in the group, so they
    /// stop last.
    func runOnPostgres(_ settings: PostgresStoreSettings) async throws {
        let metrics = self.metrics
        let logger = self.logger
        let bootstrapped = BootstrapFlag()
        readiness.watchDatabase { bootstrapped.isSet }
        var breaker = BreakerSnapshot.closed
        var attempt = 0
        while true {
            attempt += 1
            do {
                let (applied, shared) = try await PostgresStore.withRunning(settings, logger: logger) {
                    store -> ([Int], BreakerSnapshot) in
                    let applied = try await store.migrate()
                    return (applied, await store.breakerSnapshot())
                }
                breaker = shared
                logger.notice(
                    "database ready",
                    metadata: [
                        "database": "\(settings.url.redacted)",
                        "migrations_applied": "\(applied.map(String.init).joined(separator: ","))",
                        "schema_version": "\(PostgresSchema.latestVersion)",
                    ])
                break
            } catch let error as SchemaError {
                throw ConfigurationError(["database \(settings.url.redacted): \(error.description)"])
            } catch {
                if attempt == 1 || attempt % 15 == 0 {
                    logger.error(
                        "the database cannot be reached or migrated; trying again every 2s",
                        metadata: [
                            "database": "\(settings.url.redacted)", "error": "\(PostgresStore.describe(error))",
                        ])
                }
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
                } catch {
                    return  // shutting down before the database was ever reached
                }
            }
        }
        let store = PostgresStore(settings: settings, logger: logger) { event in
            switch event {
            case .committed(let records, let seconds):
                metrics.journalRecords.increment(by: Int64(records))
                if seconds > 0 { metrics.journalFsync.record(.nanoseconds(Int64(seconds * 1e9))) }
            case .failed: metrics.journalWriteErrors.increment()
            case .maintained: metrics.journalCompactions.increment()
            case .size(let bytes): metrics.journalBytes.set(Double(bytes))
            }
        }
        bootstrapped.set()
        readiness.watchDatabase { store.isReachable }
        logger.info(
            "PostgreSQL store",
            metadata: [
                "database": "\(settings.url.redacted)", "lease_owner": "\(store.owner)",
                "pool_size": "\(settings.poolSize)", "lease": "\(settings.lease)",
            ])
        try await runServices(store: store, breaker: breaker, front: [.init(service: store)])
    }
}

/// Set once the database is migrated.
final class BootstrapFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
