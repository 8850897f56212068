import LinearRegex
import RetryCore
import Synchronization

/// The rule set in force, swapped whole on reload.
///
/// A classification reads ``current`` once and decides with that reference, so it always sees
/// one whole rule set, never rules of one and the default of another. The lock is held only to
/// copy or replace a reference, never while classifying or loading.
public final class RuleStore: Sendable {
    private let state: Mutex<RuleSet>

    /// Starts with `ruleSet` in force.
    public init(_ ruleSet: RuleSet) {
        self.state = Mutex(ruleSet)
    }

    /// The rule set in force now.
    public var current: RuleSet {
        state.withLock { $0 }
    }

    /// Puts `ruleSet` in force for every classification that starts after this returns.
    public func replace(with ruleSet: RuleSet) {
        state.withLock { $0 = ruleSet }
    }

    /// Classifies with the rule set in force (one read of ``current``).
    public func classify(_ event: RuleEvent) -> Classification {
        current.classify(event)
    }
}

/// Where the daemon's rules come from, and what happens when the path does not exist.
public enum RulesSource: Sendable, Hashable {
    /// A path the operator configured: a missing file or folder is an error.
    case configured(String)
    /// The default path (`./rules`): when it does not exist the built-in HDP rule set is used.
    case defaultPath(String)

    /// The path to read and watch.
    public var path: String {
        switch self {
        case .configured(let path), .defaultPath(let path): path
        }
    }

    /// Loads the rules; for ``defaultPath(_:)`` falls back to ``RuleSet/builtIn`` when the path is
    /// missing (the result then has no files).
    public func load() throws(RulesLoadError) -> LoadedRules {
        do throws(RulesLoadError) {
            return try RuleSetLoader.load(path: path)
        } catch {
            guard error.isNotFound, case .defaultPath = self else { throw error }
            return LoadedRules(ruleSet: RuleSet.builtIn, warnings: [], files: [])
        }
    }
}
