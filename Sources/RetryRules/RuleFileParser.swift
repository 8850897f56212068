import LinearRegex
import RetryCore
import Yams

/// One rules file read strictly, before it is joined with the other files of a folder.
struct ParsedRuleFile {
    /// A rule plus where its name is written, for duplicate-name messages.
    struct Entry {
        var rule: Rule
        var nameLocation: SourceLocation
    }

    /// The file's name as given, for diagnostics.
    var file: String
    /// The file's valid rules, in order.
    var entries: [Entry] = []
    /// The file's `defaults`, merged over the built-in ones; the `default:` decision uses them.
    var maxAttempts = RuleFileParser.builtInMaxAttempts
    var backoff = BackoffPolicy.standard
    /// The `default:` decision, with the location of the `default` key.
    var defaultRule: DefaultRule?
    /// Whether the file has a `default` key at all, valid or not.
    var declaresDefault = false
}

/// Reads one rules file into a ``ParsedRuleFile``, reporting every problem to a ``DiagnosticLog``.
///
/// The reader never stops at the first problem: each section is read as far as it makes sense
/// so that `rules check` lists everything an operator has to fix in one run.
struct RuleFileParser {
    /// `max_attempts` when neither the rule nor the file's `defaults` says.
    static let builtInMaxAttempts = 3
    /// The accepted range of `max_attempts`: at least one try, and never an unbounded bill.
    static let maxAttemptsRange = 1...100
    /// The largest rules file read, so a wrong path (a log file, a dump) fails fast.
    static let maximumFileBytes = 1 << 20
    /// The statuses HDP documents; conditions on other values get a typo warning.
    static let knownStatuses = TaskStatusInfo.documentedStatuses

    /// Where every problem goes.
    let log: DiagnosticLog
    /// The file's name, for locations.
    let file: String
    /// The file's lines, to place regex errors on the exact column inside quoted patterns.
    /// Broken where libyaml breaks lines (LF, CR, CRLF, NEL, LS, PS), so that line numbers agree
    /// with the marks it gives.
    let lines: [[Unicode.Scalar]]

    /// A parser for the file `file` whose text is `text`.
    init(text: String, file: String, log: DiagnosticLog) {
        self.log = log
        self.file = file
        self.lines = YAMLValue.yamlLines(Substring(text))
    }

    /// Parses `text`; `nil` only when the YAML itself cannot be read.
    static func parse(text: String, file: String, log: DiagnosticLog) -> ParsedRuleFile? {
        let parser = RuleFileParser(text: text, file: file, log: log)
        let root: YAMLValue?
        do {
            root = try YAMLValue.parse(text, file: file)
        } catch {
            log.error(error.message, at: error.location)
            return nil
        }
        guard let root else {
            log.error("the file is empty; a rules file starts with 'version: 1'", at: parser.start)
            return nil
        }
        return parser.parseFile(root)
    }

    /// Line 1, column 1 of the file, for problems of the whole file.
    var start: SourceLocation { SourceLocation(file: file, line: 1, column: 1) }

    private func parseFile(_ root: YAMLValue) -> ParsedRuleFile? {
        guard let top = root.mapping(log, what: "the rules file") else { return nil }
        var parsed = ParsedRuleFile(file: file)
        if let version = top.take("version") {
            if let number = version.int(log, what: "version"), number != 1 {
                log.error("unsupported version \(number); this agent reads version 1", at: version.location)
            }
        } else {
            log.error("missing 'version: 1' at the top of the rules file", at: top.location)
        }
        if let defaults = top.take("defaults") {
            parseDefaults(defaults, into: &parsed)
        }
        if let rules = top.take("rules") {
            for item in rules.sequence(log, what: "rules") ?? [] {
                if let entry = parseRule(item, maxAttempts: parsed.maxAttempts, backoff: parsed.backoff) {
                    parsed.entries.append(entry)
                }
            }
        }
        if let defaultValue = top.take("default") {
            parsed.declaresDefault = true
            parsed.defaultRule = parseDefaultRule(
                defaultValue, at: top.keyLocation("default") ?? defaultValue.location, parsed: parsed)
        }
        top.finish(log)
        return parsed
    }

    private func parseDefaults(_ value: YAMLValue, into parsed: inout ParsedRuleFile) {
        guard let defaults = value.mapping(log, what: "defaults") else { return }
        if let attempts = defaults.take("max_attempts"), let number = parseMaxAttempts(attempts) {
            parsed.maxAttempts = number
        }
        if let backoff = defaults.take("backoff"), let policy = parseBackoff(backoff, over: parsed.backoff) {
            parsed.backoff = policy
        }
        defaults.finish(log)
    }

    private func parseDefaultRule(
        _ value: YAMLValue, at location: SourceLocation, parsed: ParsedRuleFile
    )
        -> DefaultRule?
    {
        guard let mapping = value.mapping(log, what: "default") else { return nil }
        _ = mapping.take("description").flatMap { $0.string(log, what: "description") }
        let action: RuleAction?
        if let actionValue = mapping.take("action") {
            action = parseAction(actionValue)
        } else {
            log.error("default has no 'action' (retry, give_up or ignore)", at: value.location)
            action = nil
        }
        mapping.finish(log)
        guard let action else { return nil }
        return DefaultRule(action: action, maxAttempts: parsed.maxAttempts, backoff: parsed.backoff, location: location)
    }

    private func parseRule(
        _ item: YAMLValue, maxAttempts inheritedAttempts: Int, backoff inheritedBackoff: BackoffPolicy
    )
        -> ParsedRuleFile.Entry?
    {
        guard let rule = item.mapping(log, what: Self.ruleWhat(item)) else { return nil }
        var name: String?
        var nameLocation = item.location
        if let nameValue = rule.take("name") {
            nameLocation = nameValue.location
            name = nameValue.string(log, what: "rule name")
            if let text = name, let problem = Self.nameProblem(text) {
                log.error(problem, at: nameValue.location)
                name = nil
            }
        } else {
            log.error("rule has no 'name'", at: item.location)
        }
        let description = rule.take("description").flatMap { $0.string(log, what: "description") }
        var condition: RuleCondition? = .always
        if let match = rule.take("match") {
            condition = parseMatch(match)
        }
        var action: RuleAction?
        let actionValue = rule.take("action")
        if let actionValue {
            action = parseAction(actionValue)
        } else {
            log.error(
                "\(name.map { "rule '\($0)'" } ?? "rule") has no 'action' (retry, give_up or ignore)", at: item.location
            )
        }
        var maxAttempts = inheritedAttempts
        let attemptsValue = rule.take("max_attempts")
        if let attemptsValue, let number = parseMaxAttempts(attemptsValue) {
            maxAttempts = number
        }
        var backoff = inheritedBackoff
        let backoffValue = rule.take("backoff")
        if let backoffValue, let policy = parseBackoff(backoffValue, over: inheritedBackoff) {
            backoff = policy
        }
        rule.finish(log)
        if let action, action != .retry, let extra = attemptsValue ?? backoffValue {
            log.warning(
                "max_attempts and backoff have no effect on a rule whose action is \(action.rawValue)",
                at: extra.location)
        }
        guard let name, let action, let condition else { return nil }
        let built = Rule(
            name: name, description: description, condition: condition, action: action,
            maxAttempts: maxAttempts, backoff: backoff, location: item.location)
        return ParsedRuleFile.Entry(rule: built, nameLocation: nameLocation)
    }

    /// `rule 'name'` when the item has a readable name, for messages about its keys.
    private static func ruleWhat(_ item: YAMLValue) -> String {
        if case .mapping(let mapping) = item.node {
            for (key, value) in mapping where key.scalar?.string == "name" {
                if let name = value.scalar?.string { return "rule '\(name)'" }
            }
        }
        return "rule"
    }

    /// Why `name` cannot name a rule, if it cannot. Names appear in metric labels and logs.
    static func nameProblem(_ name: String) -> String? {
        if name == DefaultRule.name {
            return "'default' is reserved for the top-level 'default:'; choose another rule name"
        }
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || $0 == "-" || $0 == "_" || $0 == "."
        }
        if name.isEmpty || name.count > 64 || !allowed {
            return "rule name '\(name)' must be 1 to 64 letters, digits, '-', '_' or '.'"
        }
        return nil
    }

    /// Reads `retry`, `give_up` or `ignore`, suggesting the closest word for a typo.
    func parseAction(_ value: YAMLValue) -> RuleAction? {
        guard let text = value.string(log, what: "action") else { return nil }
        if let action = RuleAction(rawValue: text) { return action }
        var message = "unknown action '\(text)'; expected retry, give_up or ignore"
        if let guess = Typo.suggestion(for: text, among: RuleAction.allCases.map(\.rawValue)) {
            message += " (did you mean '\(guess)'?)"
        }
        log.error(message, at: value.location)
        return nil
    }

    private func parseMaxAttempts(_ value: YAMLValue) -> Int? {
        guard let number = value.int(log, what: "max_attempts") else { return nil }
        guard Self.maxAttemptsRange.contains(number) else {
            log.error("max_attempts must be between 1 and 100, not \(number)", at: value.location)
            return nil
        }
        return number
    }
}
