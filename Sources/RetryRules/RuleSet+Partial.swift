import RetryCore

/// What a rule set decides for an event whose payload is only partly known (a journal record
/// written before records kept bodies, or a body cut down to the paths the rules of its day read).
public enum PartialDecision: Sendable, Hashable {
    /// The decision is certain: every condition on the way to it could be evaluated.
    case decided(Classification)
    /// Whether `rule` matches depends on the payload path `path`, which is not known: the
    /// decision could be `rule`'s or a later one's.
    case unknown(rule: String, path: String)
}

extension RuleSet {
    /// Decides `event` as ``classify(_:)`` does, reading a payload path only when `knows` says the
    /// event's payload has it as the sender sent it; any other path is unknown, and a rule whose
    /// match depends on an unknown path makes the whole decision ``PartialDecision/unknown(rule:path:)``.
    ///
    /// Three-valued (Kleene) logic, so an unknown path decides nothing it does not have to:
    /// `all` fails when one condition fails whatever the unknown ones say, `any` holds when one
    /// holds, and a rule before the deciding one that fails on a known field is skipped as usual.
    /// With `knows` always `true` the result is `.decided(classify(event))`.
    public func classify(_ event: RuleEvent, knows: (String) -> Bool) -> PartialDecision {
        for rule in rules {
            switch rule.condition.truth(for: event, knows: knows) {
            case .holds:
                var decision = rule.classification
                decision.payloadPaths = payloadPaths
                return .decided(decision)
            case .fails:
                continue
            case .unknown(let path):
                return .unknown(rule: rule.name, path: path)
            }
        }
        var decision = defaultRule.classification
        decision.payloadPaths = payloadPaths
        return .decided(decision)
    }
}

/// A condition's value when some payload paths are unknown.
enum Truth: Sendable, Hashable {
    case holds
    case fails
    /// It depends on this path (the first unknown one that matters).
    case unknown(String)
}

extension RuleCondition {
    /// ``holds(for:)`` in three-valued logic: a test of a payload path `knows` rejects is unknown.
    func truth(for event: RuleEvent, knows: (String) -> Bool) -> Truth {
        switch self {
        case .always:
            return .holds
        case .field(let field, let test):
            if case .payload(let path) = field, !knows(path) { return .unknown(path) }
            return test.holds(for: field.value(in: event)) ? .holds : .fails
        case .all(let conditions):
            var unknown: String?
            for condition in conditions {
                switch condition.truth(for: event, knows: knows) {
                case .holds: continue
                case .fails: return .fails
                case .unknown(let path): unknown = unknown ?? path
                }
            }
            return unknown.map(Truth.unknown) ?? .holds
        case .any(let conditions):
            var unknown: String?
            for condition in conditions {
                switch condition.truth(for: event, knows: knows) {
                case .holds: return .holds
                case .fails: continue
                case .unknown(let path): unknown = unknown ?? path
                }
            }
            return unknown.map(Truth.unknown) ?? .fails
        case .not(let condition):
            switch condition.truth(for: event, knows: knows) {
            case .holds: return .fails
            case .fails: return .holds
            case .unknown(let path): return .unknown(path)
            }
        }
    }
}
