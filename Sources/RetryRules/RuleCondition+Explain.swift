import LinearRegex
import RetryCore

/// Whether a condition held, and why, in words an operator can act on.
public struct ConditionOutcome: Sendable, Hashable {
    /// Whether the condition held.
    public var holds: Bool
    /// Why, e.g. `status: "AtlanticProvingFailed" is not "TaskDecommitmentFailed"`.
    public var reason: String
}

extension RuleCondition {
    /// Evaluates the condition and explains the outcome. Slower than ``holds(for:)``; for
    /// `rules explain` and logs, never for the hot path.
    public func outcome(for event: RuleEvent) -> ConditionOutcome {
        switch self {
        case .always:
            return ConditionOutcome(holds: true, reason: "matches every event")
        case .field(let field, let test):
            return test.outcome(field: field, value: field.value(in: event))
        case .all(let conditions):
            var reasons: [String] = []
            for condition in conditions {
                let outcome = condition.outcome(for: event)
                if !outcome.holds { return outcome }
                reasons.append(outcome.reason)
            }
            return ConditionOutcome(holds: true, reason: reasons.joined(separator: "; "))
        case .any(let conditions):
            var reasons: [String] = []
            for condition in conditions {
                let outcome = condition.outcome(for: event)
                if outcome.holds { return outcome }
                reasons.append(outcome.reason)
            }
            return ConditionOutcome(holds: false, reason: "none of: " + reasons.joined(separator: "; "))
        case .not(let condition):
            let inner = condition.outcome(for: event)
            return ConditionOutcome(holds: !inner.holds, reason: "not (\(inner.reason))")
        }
    }
}

extension FieldTest {
    /// Evaluates the test on `value` (absent when `nil`) and explains the outcome.
    func outcome(field: RuleField, value: JSONValue?) -> ConditionOutcome {
        let name = field.description
        switch self {
        case .exists(let expected):
            let present = value != nil
            return ConditionOutcome(holds: present == expected, reason: "\(name): \(present ? "present" : "absent")")
        case .not(let inner):
            let outcome = inner.outcome(field: field, value: value)
            return ConditionOutcome(holds: !outcome.holds, reason: "not (\(outcome.reason))")
        case .equals, .contains, .regex:
            guard let value else {
                return ConditionOutcome(holds: false, reason: "\(name): absent")
            }
            guard let text = value.scalarText else {
                return ConditionOutcome(holds: false, reason: "\(name): \(value.kindWord), not a value to compare")
            }
            let holds = holds(for: value)
            return ConditionOutcome(holds: holds, reason: "\(name): " + describe(text: text, holds: holds))
        }
    }

    private func describe(text: String, holds: Bool) -> String {
        let shown = RuleText.quoted(text)
        switch self {
        case .equals(let candidates):
            if candidates.count == 1 {
                return holds ? "is \(shown)" : "\(shown) is not \(RuleText.quoted(candidates[0], limit: .max))"
            }
            let list = candidates.map { RuleText.quoted($0, limit: .max) }.joined(separator: ", ")
            return holds ? "\(shown) is one of \(list)" : "\(shown) is not one of \(list)"
        case .contains(let needle):
            return holds
                ? "\(shown) contains \(RuleText.quoted(needle, limit: .max))"
                : "\(shown) does not contain \(RuleText.quoted(needle, limit: .max))"
        case .regex(let regex):
            return holds
                ? "\(shown) matches regex \(RuleText.quoted(regex.pattern, limit: .max))"
                : "no match for regex \(RuleText.quoted(regex.pattern, limit: .max)) in \(shown)"
        case .exists, .not:
            return shown
        }
    }
}

extension JSONValue {
    /// `an object`, `a list`, … for messages about values that are not scalars.
    var kindWord: String {
        switch self {
        case .object: "an object"
        case .array: "a list"
        case .null: "null"
        case .bool, .number, .string: "a value"
        }
    }
}

/// Text helpers shared by explanations, diagnostics and the command line.
enum RuleText {
    /// Longest text shown whole in an explanation; longer texts are cut with `…`.
    static let shownLimit = 120

    /// `text` as it is when every character shows as itself, else quoted as ``quoted(_:limit:)``
    /// quotes it (for short fields such as a status, shown bare when they are plain).
    static func shown(_ text: String, limit: Int = shownLimit) -> String {
        let plain =
            text.unicodeScalars.count <= limit && !text.isEmpty
            && !text.unicodeScalars.contains { TerminalText.isUnsafe($0) || $0 == " " || $0 == "\"" || $0 == "\\" }
        return plain ? text : quoted(text, limit: limit)
    }

    /// `text` in double quotes with `"`, `\` and control characters escaped, cut to `limit`
    /// characters (event texts can be long; patterns and values from the rules are shown whole).
    static func quoted(_ text: String, limit: Int = shownLimit) -> String {
        var out = "\""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if TerminalText.isUnsafe(scalar) {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
