import LinearRegex
import RetryCore

/// One rule of a rule set, with its inherited defaults already applied.
public struct Rule: Sendable {
    /// Unique within the rule set; reported in decisions, logs and the `rule` metric label.
    public var name: String
    /// Why the rule exists, for the next operator.
    public var description: String?
    /// When the rule decides.
    public var condition: RuleCondition
    /// What to do when the rule decides.
    public var action: RuleAction
    /// The rule's own `max_attempts`, else its file's `defaults`.
    public var maxAttempts: Int
    /// The rule's `backoff` merged over its file's `defaults`.
    public var backoff: BackoffPolicy
    /// Where the rule starts (its list item), for explanations and diagnostics.
    public var location: SourceLocation

    /// Creates a rule; the loader is the usual source, tests may build rules directly.
    public init(
        name: String, description: String? = nil, condition: RuleCondition, action: RuleAction,
        maxAttempts: Int, backoff: BackoffPolicy, location: SourceLocation
    ) {
        self.name = name
        self.description = description
        self.condition = condition
        self.action = action
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.location = location
    }

    /// The decision this rule makes when it matches.
    public var classification: Classification {
        Classification(rule: name, action: action, maxAttempts: maxAttempts, backoff: backoff)
    }
}

/// What decides when no rule matches: the top-level `default:` of a rule set.
public struct DefaultRule: Sendable {
    /// The name reported when the default decides.
    public static let name = "default"

    /// What to do when no rule matches.
    public var action: RuleAction
    /// The `max_attempts` of the `defaults` of the file that holds `default:`.
    public var maxAttempts: Int
    /// The backoff of the `defaults` of the file that holds `default:`.
    public var backoff: BackoffPolicy
    /// Where the `default` key is written.
    public var location: SourceLocation

    /// Creates the default decision.
    public init(action: RuleAction, maxAttempts: Int, backoff: BackoffPolicy, location: SourceLocation) {
        self.action = action
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.location = location
    }

    /// The decision the default makes.
    public var classification: Classification {
        Classification(rule: Self.name, action: action, maxAttempts: maxAttempts, backoff: backoff)
    }
}

/// A whole, validated rule set: ordered rules and a default, immutable once built.
///
/// Immutability is what makes hot reload safe: the daemon swaps one `RuleSet` reference for
/// another (``RuleStore``), and a classification that took a reference keeps deciding with that
/// whole set even while a reload happens.
public final class RuleSet: Sendable {
    /// In order; the first rule whose condition holds decides.
    public let rules: [Rule]
    /// What decides when no rule matches.
    public let defaultRule: DefaultRule
    /// The files the set was read from, in load order.
    public let files: [String]
    /// The dotted payload paths the rules' conditions read (`data.chain_id`; not `status`,
    /// `error` or `task_id`, which are the notice's own fields), each once, in name order.
    public let payloadPaths: [String]

    /// Builds a rule set from parts that were already validated.
    public init(rules: [Rule], defaultRule: DefaultRule, files: [String]) {
        self.rules = rules
        self.defaultRule = defaultRule
        self.files = files
        var paths = Set<String>()
        for rule in rules { rule.condition.collectPayloadPaths(into: &paths) }
        self.payloadPaths = paths.sorted()
    }

    /// The first matching rule's decision, else the default's; it carries ``payloadPaths``.
    public func classify(_ event: RuleEvent) -> Classification {
        var decision = defaultRule.classification
        for rule in rules where rule.condition.holds(for: event) {
            decision = rule.classification
            break
        }
        decision.payloadPaths = payloadPaths
        return decision
    }

    /// The decision for `event` with the reason each earlier rule did not match.
    public func explain(_ event: RuleEvent) -> RuleExplanation {
        var skipped: [RuleExplanation.Step] = []
        for rule in rules {
            let outcome = rule.condition.outcome(for: event)
            let step = RuleExplanation.Step(rule: rule.name, location: rule.location, reason: outcome.reason)
            if outcome.holds {
                var decision = rule.classification
                decision.payloadPaths = payloadPaths
                return RuleExplanation(event: event, skipped: skipped, deciding: step, decision: decision)
            }
            skipped.append(step)
        }
        let step = RuleExplanation.Step(
            rule: DefaultRule.name, location: defaultRule.location, reason: "no rule matched")
        var decision = defaultRule.classification
        decision.payloadPaths = payloadPaths
        return RuleExplanation(event: event, skipped: skipped, deciding: step, decision: decision)
    }
}

/// Why a rule set decided what it did: every rule that did not match, then the deciding one.
public struct RuleExplanation: Sendable {
    /// One rule's part in the decision.
    public struct Step: Sendable, Hashable {
        /// The rule's name (`default` for the default).
        public var rule: String
        /// Where the rule is written.
        public var location: SourceLocation
        /// For a skipped rule, the condition that failed; for the decider, why it matched.
        public var reason: String
    }

    /// The event explained.
    public var event: RuleEvent
    /// Rules tried before the decider, in order, each with the condition that failed.
    public var skipped: [Step]
    /// The rule that decided (`default` when none matched).
    public var deciding: Step
    /// The decision, the same as ``RuleSet/classify(_:)`` gives.
    public var decision: Classification

    /// Text for `rules explain`:
    ///
    /// ```
    /// event: task_id "01JP…" status "AtlanticProvingFailed" error "prover timeout"
    ///   no   decommitment-results-missing (rules/hdp.yaml:12:5): status: "AtlanticProvingFailed" is not …
    ///   MATCH transient-network (rules/hdp.yaml:40:5): error: "prover timeout" matches regex "…"
    /// decision: retry (rule transient-network, max_attempts 3, backoff 30s×2 up to 30m, full jitter)
    /// ```
    public var text: String {
        var lines: [String] = []
        let error = event.error.map { RuleText.quoted($0) } ?? "(none)"
        lines.append(
            "event: task_id \(RuleText.quoted(event.taskID)) status \(RuleText.quoted(event.status)) error \(error)")
        for step in skipped {
            lines.append("  no    \(step.rule) (\(step.location)): \(step.reason)")
        }
        lines.append("  MATCH \(deciding.rule) (\(deciding.location)): \(deciding.reason)")
        lines.append("decision: \(decision.summary)")
        return lines.joined(separator: "\n")
    }
}

extension Classification {
    /// `retry (rule transient-network, max_attempts 3, backoff 30s×2 up to 30m, full jitter)`.
    public var summary: String {
        var text = "\(action.rawValue) (rule \(rule)"
        if action == .retry {
            let b = backoff
            text += ", max_attempts \(maxAttempts), backoff \(DurationText.format(b.initial))"
            text += "×\(RuleText.number(b.factor)) up to \(DurationText.format(b.max)), \(b.jitter.rawValue) jitter"
        }
        return text + ")"
    }
}

extension RuleText {
    /// `2` rather than `2.0`; `1.5` as is.
    static func number(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
