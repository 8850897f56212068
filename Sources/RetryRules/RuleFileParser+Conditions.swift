import LinearRegex
import RetryCore
import Yams

extension RuleFileParser {
    /// The operators a field condition may use, for messages and suggestions.
    static let operators = ["equals", "in", "contains", "regex", "exists", "not"]
    /// The combinators a `match` mapping may use besides field names.
    static let combinators = ["any", "all", "not"]
    /// Deeper nesting than this is surely a mistake, and bounds recursion while classifying.
    static let maximumDepth = 32

    /// Reads a `match` mapping: every entry must hold (an implicit `all`).
    func parseMatch(_ value: YAMLValue, depth: Int = 0) -> RuleCondition? {
        guard depth < Self.maximumDepth else {
            log.error("conditions nest deeper than \(Self.maximumDepth) levels", at: value.location)
            return nil
        }
        guard let mapping = value.mapping(log, what: "match") else { return nil }
        var conditions: [RuleCondition] = []
        var valid = true
        for entry in mapping.entries {
            let condition: RuleCondition?
            switch entry.key {
            case "any", "all":
                condition = parseCombination(entry.key, entry.value, depth: depth)
            case "not":
                condition = parseMatch(entry.value, depth: depth + 1).map(RuleCondition.not)
            default:
                condition = parseField(entry.key, at: entry.keyLocation, entry.value, depth: depth)
            }
            if let condition { conditions.append(condition) } else { valid = false }
        }
        guard valid else { return nil }
        switch conditions.count {
        case 0: return .always
        case 1: return conditions[0]
        default: return .all(conditions)
        }
    }

    private func parseCombination(_ key: String, _ value: YAMLValue, depth: Int) -> RuleCondition? {
        guard let items = value.sequence(log, what: "'\(key)'") else { return nil }
        guard !items.isEmpty else {
            log.error("'\(key)' needs at least one condition", at: value.location)
            return nil
        }
        let parsed = items.map { parseMatch($0, depth: depth + 1) }
        let conditions = parsed.compactMap { $0 }
        guard conditions.count == parsed.count else { return nil }
        return key == "any" ? .any(conditions) : .all(conditions)
    }

    private func parseField(
        _ name: String, at location: SourceLocation, _ value: YAMLValue, depth: Int
    )
        -> RuleCondition?
    {
        if name.isEmpty || name.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            log.error("field '\(name)' is not a valid dotted path such as data.chain_id", at: location)
            return nil
        }
        let field = RuleField(name: name)
        if case .payload = field, !name.contains("."),
            let guess = Typo.suggestion(for: name, among: ["status", "error", "task_id"])
        {
            log.warning(
                "field '\(name)' is read from the payload, not the notice; did you mean '\(guess)'?", at: location)
        }
        guard let test = parseFieldTest(value, field: field, depth: depth) else { return nil }
        return .field(field, test)
    }

    private func parseFieldTest(_ value: YAMLValue, field: RuleField, depth: Int) -> FieldTest? {
        guard depth < Self.maximumDepth else {
            log.error("conditions nest deeper than \(Self.maximumDepth) levels", at: value.location)
            return nil
        }
        switch value.node {
        case .scalar:
            guard let text = value.scalarText else {
                log.error(
                    "condition on '\(field)' needs a value; write {exists: false} to require that it is absent",
                    at: value.location)
                return nil
            }
            checkStatus(text, field: field, at: value.location)
            return .equals([text])
        case .sequence:
            return parseList(value, field: field, what: "the list of values for '\(field)'")
        case .mapping:
            return parseOperator(value, field: field, depth: depth)
        case .alias:
            log.error("condition on '\(field)' must be a value, a list or an operator", at: value.location)
            return nil
        }
    }

    private func parseOperator(_ value: YAMLValue, field: RuleField, depth: Int) -> FieldTest? {
        guard let mapping = value.mapping(log, what: "condition on '\(field)'") else { return nil }
        guard let first = mapping.entries.first else {
            log.error(
                "condition on '\(field)' is empty; use one of \(Self.operators.joined(separator: ", "))",
                at: value.location)
            return nil
        }
        for extra in mapping.entries.dropFirst() {
            log.error(
                "condition on '\(field)' takes one operator, found '\(first.key)' and '\(extra.key)'; combine them with all:",
                at: extra.keyLocation)
        }
        guard mapping.entries.count == 1 else { return nil }
        let operand = first.value
        switch first.key {
        case "equals":
            guard let text = operand.string(log, what: "equals") else { return nil }
            checkStatus(text, field: field, at: operand.location)
            return .equals([text])
        case "in":
            return parseList(operand, field: field, what: "in")
        case "contains":
            guard let text = operand.string(log, what: "contains") else { return nil }
            guard !text.isEmpty else {
                log.error("contains needs a non-empty text", at: operand.location)
                return nil
            }
            return .contains(text.lowercased())
        case "regex":
            guard let pattern = operand.string(log, what: "regex") else { return nil }
            do {
                return .regex(try RuleRegex(pattern))
            } catch {
                log.error(error.message, at: regexLocation(operand, offset: error.offset))
                return nil
            }
        case "exists":
            return operand.bool(log, what: "exists").map(FieldTest.exists)
        case "not":
            return parseFieldTest(operand, field: field, depth: depth + 1).map(FieldTest.not)
        default:
            var message =
                "unknown operator '\(first.key)' in condition on '\(field)'; expected one of \(Self.operators.joined(separator: ", "))"
            if let guess = Typo.suggestion(for: first.key, among: Self.operators) {
                message += " (did you mean '\(guess)'?)"
            }
            log.error(message, at: first.keyLocation)
            return nil
        }
    }

    private func parseList(_ value: YAMLValue, field: RuleField, what: String) -> FieldTest? {
        guard let items = value.sequence(log, what: what) else { return nil }
        guard !items.isEmpty else {
            log.error("\(what) needs at least one value", at: value.location)
            return nil
        }
        var texts: [String] = []
        for item in items {
            guard let text = item.scalarText else {
                log.error(
                    "each value in \(what) must be a single value, not \(item.kindDescription)", at: item.location)
                return nil
            }
            checkStatus(text, field: field, at: item.location)
            texts.append(text)
        }
        return .equals(texts)
    }

    /// Warns when a `status` value is not one HDP documents, so a typo does not silently never match.
    private func checkStatus(_ text: String, field: RuleField, at location: SourceLocation) {
        guard field == .status, !Self.knownStatuses.contains(text) else { return }
        var message = "status '\(text)' is not one HDP documents"
        if let guess = Typo.suggestion(for: text, among: Self.knownStatuses) {
            message += " (did you mean '\(guess)'?)"
        }
        log.warning(message, at: location)
    }

    /// Where the character `offset` (0-based, in the pattern) sits in the file.
    ///
    /// Exact for a pattern on one line, plain or quoted: the opening quote is skipped and each
    /// escape (`\\`, `\"`, `''`, `\x41`, …) is stepped over as the one character it stands for.
    /// For a pattern folded over several lines the column is that of the pattern's start.
    func regexLocation(_ value: YAMLValue, offset: Int?) -> SourceLocation {
        var location = value.location
        guard case .scalar(let scalar) = value.node else { return location }
        let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
        let lineIndex = location.line - 1
        guard lines.indices.contains(lineIndex) else { return location }
        let source = lines[lineIndex]
        var index = location.column - 1 + (quoted ? 1 : 0)
        guard index <= source.count else { return location }
        var remaining = offset ?? 0
        while remaining > 0, index < source.count {
            index += Self.sourceWidth(of: source, at: index, style: scalar.style)
            remaining -= 1
        }
        if remaining > 0 { return location }
        location.column = index + 1
        return location
    }

    /// How many source characters encode the one pattern character at `index`.
    private static func sourceWidth(of source: [Unicode.Scalar], at index: Int, style: Node.Scalar.Style) -> Int {
        switch style {
        case .singleQuoted:
            return source[index] == "'" && index + 1 < source.count && source[index + 1] == "'" ? 2 : 1
        case .doubleQuoted:
            guard source[index] == "\\", index + 1 < source.count else { return 1 }
            switch source[index + 1] {
            case "x": return 4
            case "u": return 6
            case "U": return 10
            default: return 2
            }
        default:
            return 1
        }
    }

    /// Reads a `backoff` mapping; keys it omits keep the values of `base`.
    func parseBackoff(_ value: YAMLValue, over base: BackoffPolicy) -> BackoffPolicy? {
        guard let mapping = value.mapping(log, what: "backoff") else { return nil }
        var policy = base
        var valid = true
        for key in ["initial", "max"] {
            guard let item = mapping.take(key) else { continue }
            guard let duration = item.duration(log, what: "backoff \(key)") else {
                valid = false
                continue
            }
            if key == "initial" { policy.initial = duration } else { policy.max = duration }
        }
        if let item = mapping.take("factor") {
            if let factor = item.double(log, what: "backoff factor") {
                if factor >= 1, factor <= 100 {
                    policy.factor = factor
                } else {
                    log.error(
                        "backoff factor must be between 1 and 100, not \(RuleText.number(factor))", at: item.location)
                    valid = false
                }
            } else {
                valid = false
            }
        }
        if let item = mapping.take("jitter") {
            valid = parseJitter(item, into: &policy) && valid
        }
        mapping.finish(log)
        guard valid else { return nil }
        if policy.max < policy.initial {
            let at = mapping.keyLocation("max") ?? mapping.keyLocation("initial") ?? value.location
            var message =
                "backoff max \(DurationText.format(policy.max)) is shorter than initial \(DurationText.format(policy.initial))"
            if mapping.keyLocation("max") == nil || mapping.keyLocation("initial") == nil {
                message += " (the other value is inherited from defaults)"
            }
            log.error(message, at: at)
            return nil
        }
        return policy
    }

    private func parseJitter(_ item: YAMLValue, into policy: inout BackoffPolicy) -> Bool {
        guard let text = item.string(log, what: "backoff jitter") else { return false }
        if let jitter = BackoffPolicy.Jitter(rawValue: text) {
            policy.jitter = jitter
            return true
        }
        var message = "unknown jitter '\(text)'; expected full, equal or none"
        if let guess = Typo.suggestion(for: text, among: BackoffPolicy.Jitter.allCases.map(\.rawValue)) {
            message += " (did you mean '\(guess)'?)"
        }
        log.error(message, at: item.location)
        return false
    }
}
