import RetryCore
import RetryRules

/// `rules-yaml`: the rules loader (strict YAML, the rule grammar, regex compilation, the checks
/// across files) on arbitrary text.
///
/// The input is one rules file, or several separated by a line `# fuzz: next file` (a folder,
/// loaded in order). Properties:
/// - it never crashes: the loader returns a rule set, or an error with at least one error
///   diagnostic;
/// - every diagnostic (errors and warnings) names one of the files, at a 1-based line and column
///   that exist in that file (the column may point just past the line's end, or the line just past
///   the last), and prints as `FILE:LINE:COLUMN: message`;
/// - a rule set that loads has unique rule names located in its files, and for sample events
///   `explain` decides exactly as `classify` does.
enum RulesYAMLTarget {
    static let target = FuzzTarget(
        name: "rules-yaml",
        summary: "rules files: strict YAML loader, rule grammar, regexes, FILE:LINE:COLUMN diagnostics",
        maximumLength: 4096,
        run: run)

    static let separator = "\n# fuzz: next file\n"

    /// Events the loaded rules classify: each HDP failure state with a typical error, and odd ones.
    static let events: [RuleEvent] = {
        let errors = [
            "prover timeout", "Cannot retry decommitment: results missing", "HTTP 429 Too Many Requests",
            "connection reset by peer", "", "invalid input: unsupported chain 99",
        ]
        var events: [RuleEvent] = []
        for (index, status) in TaskStatusInfo.documentedStatuses.enumerated() where TaskStatusInfo.isFailure(status) {
            let error = errors[index % errors.count]
            let payload = JSONValue.object([
                "task_id": .string("01JPJ03YJT1A93D6NF56G4GVEQ"), "status": .string(status), "error": .string(error),
                "data": .object(["chain_id": .number(11_155_111), "attempt": .number(2)]),
            ])
            events.append(
                RuleEvent(taskID: "01JPJ03YJT1A93D6NF56G4GVEQ", status: status, error: error, payload: payload))
        }
        events.append(RuleEvent(taskID: "01JPJ03YJT1A93D6NF56G4GVEQ", status: "weird", error: nil, payload: .null))
        return events
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        // The loader reads files and refuses any that is not UTF-8 before parsing.
        guard let text = String(validating: bytes, as: UTF8.self) else { return }
        let texts = text.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        let sources = texts.enumerated().map { (file: "fuzz-\($0.offset).yaml", text: $0.element) }
        let shapes = Dictionary(uniqueKeysWithValues: sources.map { ($0.file, TextShape($0.text)) })

        func checkLocation(_ location: SourceLocation, _ what: String) throws(PropertyViolation) {
            guard let shape = shapes[location.file] else {
                throw PropertyViolation(message: "\(what) names an unknown file: \(location)")
            }
            try require(
                shape.contains(line: location.line, column: location.column),
                "\(what) at \(location), outside the file (\(shape))")
        }
        func checkDiagnostic(_ diagnostic: SourceDiagnostic) throws(PropertyViolation) {
            try checkLocation(diagnostic.location, "diagnostic \(shown(diagnostic.message))")
            try require(
                diagnostic.description.hasPrefix(
                    "\(diagnostic.location.file):\(diagnostic.location.line):\(diagnostic.location.column): "),
                "diagnostic not printed as FILE:LINE:COLUMN: \(shown(diagnostic.description))")
        }

        let loaded: LoadedRules
        do {
            loaded = try RuleSetLoader.load(sources: sources)
        } catch {
            try require(
                error.diagnostics.contains { $0.severity == .error }, "load failed without an error: \(error)")
            for diagnostic in error.diagnostics { try checkDiagnostic(diagnostic) }
            return
        }

        for warning in loaded.warnings {
            try require(warning.severity == .warning, "an error among the warnings of a rule set that loaded")
            try checkDiagnostic(warning)
        }
        let ruleSet = loaded.ruleSet
        let names = ruleSet.rules.map(\.name)
        try require(Set(names).count == names.count, "rule names are not unique: \(names)")
        for rule in ruleSet.rules { try checkLocation(rule.location, "rule \(shown(rule.name))") }
        try checkLocation(ruleSet.defaultRule.location, "the default")
        for event in events {
            let decision = ruleSet.classify(event)
            let explanation = ruleSet.explain(event)
            try require(
                explanation.decision == decision && explanation.deciding.rule == decision.rule,
                "explain decides \(explanation.decision.rule), classify \(decision.rule) for \(event.status)")
            try require(
                decision.rule == DefaultRule.name || names.contains(decision.rule),
                "decided by an unknown rule \(decision.rule)")
            try require(
                decision.action != .retry || decision.maxAttempts >= 1, "a retry decision with no attempts")
        }
    }
}

/// Where a location may point in a text: a 1-based line and column (in Unicode scalars, as libyaml
/// counts) on a line that exists, at most just past its end, or the line just past the last. Lines
/// break where YAML breaks them (LF, CR, CRLF, NEL, LS, PS), for reader and syntax errors alike.
struct TextShape: CustomStringConvertible {
    /// Line lengths in scalars.
    private var lines: [Int] = [0]

    init(_ text: String) {
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            defer { previous = scalar }
            switch scalar {
            case "\n" where previous == "\r":
                continue
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}":
                lines.append(0)
            default:
                lines[lines.count - 1] += 1
            }
        }
    }

    /// Whether `line`:`column` exists.
    func contains(line: Int, column: Int) -> Bool {
        guard line >= 1, column >= 1, line <= lines.count + 1 else { return false }
        return line == lines.count + 1 ? column == 1 : column <= lines[line - 1] + 1
    }

    var description: String { "\(lines.count) lines" }
}
