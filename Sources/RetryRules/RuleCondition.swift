import LinearRegex
import RetryCore

/// Which value of an event a condition reads.
///
/// `status`, `error` and `task_id` read the normalised fields of the notice, so that a rule works
/// whatever envelope the sender used; any other name is a dotted path into the raw payload
/// (`data.chain_id`, `items.0.id`), so that operators can match on fields the agent knows nothing about.
public enum RuleField: Sendable, Hashable, CustomStringConvertible {
    /// The notice's normalised status word.
    case status
    /// The notice's error text; absent when the sender gave none.
    case error
    /// The notice's task id, as the agent canonicalised it.
    case taskID
    /// A dotted path into the raw JSON body.
    case payload(String)

    /// Reads `name` as written in a rules file.
    public init(name: String) {
        switch name {
        case "status": self = .status
        case "error": self = .error
        case "task_id": self = .taskID
        default: self = .payload(name)
        }
    }

    /// The name as written in a rules file.
    public var description: String {
        switch self {
        case .status: "status"
        case .error: "error"
        case .taskID: "task_id"
        case .payload(let path): path
        }
    }

    /// The field's value in `event`: `nil` when absent (a JSON `null` counts as absent).
    func value(in event: RuleEvent) -> JSONValue? {
        switch self {
        case .status: return .string(event.status)
        case .error: return event.error.map(JSONValue.string)
        case .taskID: return .string(event.taskID)
        case .payload(let path):
            guard let value = event.payload[path: path] else { return nil }
            if case .null = value { return nil }
            return value
        }
    }
}

/// A test of one field's value.
///
/// Case sensitivity is chosen per operator so that the common rule is the natural one:
/// `equals`/`in` compare exactly (status words and ids are exact), `contains` ignores case (error
/// texts are prose whose capitalisation varies), and `regex` is case-sensitive unless the pattern
/// starts with `(?i)`. An absent field never equals, contains or matches anything.
public indirect enum FieldTest: Sendable {
    /// The value's text is one of these (one element for `equals`).
    case equals([String])
    /// The value's text contains this, ignoring case; stored lower-cased.
    case contains(String)
    /// The pattern occurs somewhere in the value's text.
    case regex(RuleRegex)
    /// The field is present (`true`) or absent (`false`).
    case exists(Bool)
    /// The inner test does not hold.
    case not(FieldTest)
}

/// A rule's `match`: field tests combined with `all`, `any` and `not`.
public indirect enum RuleCondition: Sendable {
    /// `match: {}` or no `match`.
    case always
    /// A test of one field (`error: {contains: timeout}`).
    case field(RuleField, FieldTest)
    /// Every condition holds (`all:`, or several entries in one mapping).
    case all([RuleCondition])
    /// At least one condition holds (`any:`).
    case any([RuleCondition])
    /// The condition does not hold (`not:`).
    case not(RuleCondition)

    /// Whether the condition holds for `event`. This is the hot path: no text is built.
    public func holds(for event: RuleEvent) -> Bool {
        switch self {
        case .always: return true
        case .field(let field, let test): return test.holds(for: field.value(in: event))
        case .all(let conditions): return conditions.allSatisfy { $0.holds(for: event) }
        case .any(let conditions): return conditions.contains { $0.holds(for: event) }
        case .not(let condition): return !condition.holds(for: event)
        }
    }

    /// Whether the condition holds whatever the event, so that every later rule is unreachable.
    var alwaysHolds: Bool {
        switch self {
        case .always: return true
        case .field(let field, let test):
            switch (field, test) {
            case (.status, .exists(true)), (.taskID, .exists(true)): return true
            default: return false
            }
        case .all(let conditions): return conditions.allSatisfy(\.alwaysHolds)
        case .any(let conditions): return conditions.contains(where: \.alwaysHolds)
        case .not: return false
        }
    }

    /// Adds every payload path the condition reads to `paths`.
    func collectPayloadPaths(into paths: inout Set<String>) {
        switch self {
        case .always: break
        case .field(let field, _):
            if case .payload(let path) = field { paths.insert(path) }
        case .all(let conditions), .any(let conditions):
            for condition in conditions { condition.collectPayloadPaths(into: &paths) }
        case .not(let condition): condition.collectPayloadPaths(into: &paths)
        }
    }
}

extension FieldTest {
    /// Whether the test holds for a field value (`nil` when the field is absent).
    func holds(for value: JSONValue?) -> Bool {
        switch self {
        case .exists(let expected):
            return (value != nil) == expected
        case .not(let inner):
            return !inner.holds(for: value)
        case .equals(let candidates):
            guard let text = value?.scalarText else { return false }
            return candidates.contains(text)
        case .contains(let needle):
            guard let text = value?.scalarText else { return false }
            // Bytes, not Foundation's `NSString` search (which `contains` resolves to here): the
            // same literal answer for a needle and a text that are both valid UTF-8.
            return text.lowercased().utf8.firstRange(of: needle.utf8) != nil
        case .regex(let regex):
            guard let text = value?.scalarText else { return false }
            return regex.matches(text)
        }
    }
}
