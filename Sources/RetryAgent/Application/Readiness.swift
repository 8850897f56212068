import Synchronization

/// Readiness: journal replayed (or, on PostgreSQL, the schema migrated), rules loaded, webhook
/// listener bound, and — on PostgreSQL — the database answering.
public final class Readiness: Sendable {
    private let state = Mutex((replayed: false, rulesLoaded: false, listening: false))
    private let database = Mutex<(@Sendable () -> Bool)?>(nil)

    public init() {}

    public func markReplayed() { state.withLock { $0.replayed = true } }
    public func markRulesLoaded() { state.withLock { $0.rulesLoaded = true } }
    public func markListening() { state.withLock { $0.listening = true } }

    /// Makes readiness depend on `reachable` too (the PostgreSQL store: a database this agent
    /// cannot reach makes it not ready, so a load balancer sends deliveries to the others).
    public func watchDatabase(_ reachable: @escaping @Sendable () -> Bool) {
        database.withLock { $0 = reachable }
    }

    /// What is still missing, empty when ready.
    public var missing: [String] {
        let databaseReachable = database.withLock { $0 }?() ?? true
        return state.withLock { state in
            var missing: [String] = []
            if !databaseReachable { missing.append("database") }
            if !state.replayed { missing.append("journal replay") }
            if !state.rulesLoaded { missing.append("rules") }
            if !state.listening { missing.append("webhook listener") }
            return missing
        }
    }
}
