import Synchronization

/// Readiness: journal replayed, rules loaded, webhook listener bound.
public final class Readiness: Sendable {
    private let state = Mutex((replayed: false, rulesLoaded: false, listening: false))

    public init() {}

    public func markReplayed() { state.withLock { $0.replayed = true } }
    public func markRulesLoaded() { state.withLock { $0.rulesLoaded = true } }
    public func markListening() { state.withLock { $0.listening = true } }

    /// What is still missing, empty when ready.
    public var missing: [String] {
        state.withLock { state in
            var missing: [String] = []
            if !state.replayed { missing.append("journal replay") }
            if !state.rulesLoaded { missing.append("rules") }
            if !state.listening { missing.append("webhook listener") }
            return missing
        }
    }
}
