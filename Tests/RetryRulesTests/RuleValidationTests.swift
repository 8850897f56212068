import RetryTesting
import Testing

@testable import LinearRegex
@testable import RetryCore
@testable import RetryRules

@Suite("Rule validation")
struct RuleValidationTests {
    @Test("every problem of a file is reported with its line and column, in order")
    func collected() {
        let yaml = """
            version: 1
            defaults:
              max_attemps: 3
              backoff: {initial: 0s, factor: 0.5, jitter: ful}
            rules:
              - name: a
                match: {status: DryRunFailed}
                action: retry
              - name: b
                match: {status: DryRunFailed}
                action: retyr
                max_attempts: 101
              - name: a
                match: {status: TraceGenFailed}
                backoff: {initial: 1h, max: 30m}
                action: retry
              - name: c
                mach: {status: DryRunFailed}
                action: retry
                max_attempts: many
            """
        #expect(
            RuleFixtures.diagnostics(yaml) == [
                "r.yaml:1:1: missing top-level 'default:', e.g. default: {action: give_up}",
                "r.yaml:3:3: unknown key 'max_attemps' in defaults (did you mean 'max_attempts'?)",
                "r.yaml:4:22: backoff initial must be longer than zero",
                "r.yaml:4:34: backoff factor must be between 1 and 100, not 0.5",
                "r.yaml:4:47: unknown jitter 'ful'; expected full, equal or none (did you mean 'full'?)",
                "r.yaml:11:13: unknown action 'retyr'; expected retry, give_up or ignore (did you mean 'retry'?)",
                "r.yaml:12:19: max_attempts must be between 1 and 100, not 101",
                "r.yaml:13:11: duplicate rule name 'a' (first defined at r.yaml:6:11)",
                "r.yaml:15:28: backoff max 30m is shorter than initial 1h",
                "r.yaml:18:5: unknown key 'mach' in rule 'c' (did you mean 'match'?)",
                "r.yaml:20:19: max_attempts must be an integer",
            ])
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var label: String
        var yaml: String
        var expected: [String]
        var testDescription: String { label }
    }

    static let defaultLine = "\ndefault: {action: give_up}"

    static let cases: [Case] = [
        Case(
            label: "unsupported version", yaml: "version: 2" + defaultLine,
            expected: ["r.yaml:1:10: unsupported version 2; this agent reads version 1"]),
        Case(
            label: "missing version", yaml: "default: {action: give_up}",
            expected: ["r.yaml:1:1: missing 'version: 1' at the top of the rules file"]),
        Case(
            label: "version of the wrong type", yaml: "version: one" + defaultLine,
            expected: ["r.yaml:1:10: version must be an integer"]),
        Case(
            label: "empty file", yaml: "",
            expected: ["r.yaml:1:1: the file is empty; a rules file starts with 'version: 1'"]),
        Case(
            label: "default without action", yaml: "version: 1\ndefault: {description: x}",
            expected: ["r.yaml:2:10: default has no 'action' (retry, give_up or ignore)"]),
        Case(
            label: "unknown top-level key", yaml: "version: 1\nrule: []" + defaultLine,
            expected: ["r.yaml:2:1: unknown key 'rule' in the rules file (did you mean 'rules'?)"]),
        Case(
            label: "rules is not a list", yaml: "version: 1\nrules: {name: a}" + defaultLine,
            expected: ["r.yaml:2:8: rules must be a list, not a mapping"]),
        Case(
            label: "rule without name and action", yaml: "version: 1\nrules:\n  - match: {}" + defaultLine,
            expected: [
                "r.yaml:3:5: rule has no 'name'",
                "r.yaml:3:5: rule has no 'action' (retry, give_up or ignore)",
            ]),
        Case(
            label: "reserved rule name", yaml: "version: 1\nrules:\n  - {name: default, action: retry}" + defaultLine,
            expected: ["r.yaml:3:12: 'default' is reserved for the top-level 'default:'; choose another rule name"]),
        Case(
            label: "rule name with spaces",
            yaml: "version: 1\nrules:\n  - {name: my rule, action: retry}" + defaultLine,
            expected: ["r.yaml:3:12: rule name 'my rule' must be 1 to 64 letters, digits, '-', '_' or '.'"]),
        Case(
            label: "max_attempts zero", yaml: "version: 1\ndefaults: {max_attempts: 0}" + defaultLine,
            expected: ["r.yaml:2:26: max_attempts must be between 1 and 100, not 0"]),
        // Before, 2562048h and more trapped converting to nanoseconds: `rules check` crashed, and a
        // hot reload killed the agent (which then crash-looped on its own rules).
        Case(
            label: "duration over ten years",
            yaml: "version: 1\ndefaults: {backoff: {initial: 2562048h}}" + defaultLine,
            expected: ["r.yaml:2:31: backoff initial must be at most 87600h (10 years)"]),
        Case(
            label: "duration summing past ten years",
            yaml: "version: 1\ndefaults: {backoff: {max: 87600h1ms}}" + defaultLine,
            expected: ["r.yaml:2:27: backoff max must be at most 87600h (10 years)"]),
        Case(
            label: "negative duration", yaml: "version: 1\ndefaults: {backoff: {max: -5s}}" + defaultLine,
            expected: ["r.yaml:2:27: backoff max must be a duration such as 500ms, 30s, 10m or 24h"]),
        Case(
            label: "max shorter than an inherited initial",
            yaml:
                "version: 1\ndefaults: {backoff: {initial: 1m}}\nrules:\n  - {name: a, action: retry, backoff: {max: 10s}}"
                + defaultLine,
            expected: [
                "r.yaml:4:40: backoff max 10s is shorter than initial 1m (the other value is inherited from defaults)"
            ]),
        Case(
            label: "unknown operator",
            yaml: "version: 1\nrules:\n  - {name: a, action: retry, match: {error: {contians: x}}}" + defaultLine,
            expected: [
                "r.yaml:3:46: unknown operator 'contians' in condition on 'error'; expected one of equals, in, contains, regex, exists, not (did you mean 'contains'?)"
            ]),
        Case(
            label: "two operators",
            yaml: "version: 1\nrules:\n  - {name: a, action: retry, match: {error: {contains: x, regex: y}}}"
                + defaultLine,
            expected: [
                "r.yaml:3:59: condition on 'error' takes one operator, found 'contains' and 'regex'; combine them with all:"
            ]),
        Case(
            label: "exists is not a boolean",
            yaml: "version: 1\nrules:\n  - {name: a, action: retry, match: {error: {exists: yes}}}" + defaultLine,
            expected: ["r.yaml:3:54: exists must be true or false"]),
        Case(
            label: "empty any",
            yaml: "version: 1\nrules:\n  - {name: a, action: retry, match: {any: []}}" + defaultLine,
            expected: ["r.yaml:3:43: 'any' needs at least one condition"]),
        Case(
            label: "condition without value",
            yaml: "version: 1\nrules:\n  - {name: a, action: retry, match: {error: ~}}" + defaultLine,
            expected: [
                "r.yaml:3:45: condition on 'error' needs a value; write {exists: false} to require that it is absent"
            ]),
        Case(
            label: "bad dotted path",
            yaml: "version: 1\nrules:\n  - {name: a, action: retry, match: {data..x: 1}}" + defaultLine,
            expected: ["r.yaml:3:38: field 'data..x' is not a valid dotted path such as data.chain_id"]),
        Case(
            label: "match is null",
            yaml: "version: 1\nrules:\n  - name: a\n    match:\n    action: retry" + defaultLine,
            expected: ["r.yaml:4:11: match must be a mapping, not null"]),
        Case(
            label: "duplicate YAML key points at the repetition",
            yaml: "version: 1\nrules:\n  - name: a\n    action: retry\n    name: b" + defaultLine,
            expected: ["r.yaml:5:5: duplicate key 'name' in a mapping (first at line 3)"]),
        Case(
            label: "a second default",
            yaml: "version: 1\ndefault: {action: retry}\ndefault: {action: give_up}",
            expected: ["r.yaml:3:1: duplicate key 'default' in a mapping (first at line 2)"]),
    ]

    @Test("one problem, one exact diagnostic", arguments: cases)
    func single(_ testCase: Case) {
        #expect(RuleFixtures.diagnostics(testCase.yaml) == testCase.expected)
    }

    struct WarningCase: CustomTestStringConvertible, Sendable {
        var label: String
        var rules: String
        var expected: [String]
        var testDescription: String { label }
    }

    static let warningCases: [WarningCase] = [
        WarningCase(
            label: "unreachable after a catch-all",
            rules:
                "  - name: everything\n    action: retry\n  - name: never\n    match: {status: DryRunFailed}\n    action: give_up",
            expected: [
                "r.yaml:5:5: warning: rule 'never' is unreachable: rule 'everything' (r.yaml:3:5) matches every event"
            ]),
        WarningCase(
            label: "status typo",
            rules: "  - {name: a, action: retry, match: {status: AtlanticProvingFaild}}",
            expected: [
                "r.yaml:3:46: warning: status 'AtlanticProvingFaild' is not one HDP documents (did you mean 'AtlanticProvingFailed'?)"
            ]),
        WarningCase(
            label: "field name typo",
            rules: "  - {name: a, action: retry, match: {staus: DryRunFailed}}",
            expected: [
                "r.yaml:3:38: warning: field 'staus' is read from the payload, not the notice; did you mean 'status'?"
            ]),
        WarningCase(
            label: "attempts on a give_up rule",
            rules: "  - {name: a, action: give_up, max_attempts: 2, match: {status: DryRunFailed}}",
            expected: [
                "r.yaml:3:46: warning: max_attempts and backoff have no effect on a rule whose action is give_up"
            ]),
    ]

    @Test("warnings are reported but the rules load", arguments: warningCases)
    func warnings(_ testCase: WarningCase) throws {
        let yaml = "version: 1\nrules:\n" + testCase.rules + Self.defaultLine
        let loaded = try RuleSetLoader.load(yaml: yaml, file: "r.yaml")
        #expect(loaded.warnings.map(\.description) == testCase.expected)
    }

    @Test("a tab in the indentation is a syntax error at its position")
    func tab() {
        let diagnostics = RuleFixtures.diagnostics("version: 1\nrules:\n\t- name: a")
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.hasPrefix("r.yaml:3:1: YAML syntax: ") == true)
        #expect(diagnostics.first?.hasSuffix("(a tab; YAML indents with spaces only)") == true)
    }

    @Test("a bad regex is reported where the pattern goes wrong")
    func regex() throws {
        let pattern = "ab(cd"
        let expectedOffset: Int?
        do {
            _ = try RuleRegex(pattern)
            Issue.record("the pattern should not compile")
            return
        } catch {
            expectedOffset = error.offset
        }
        // `      error: {regex: "ab(cd"}` — the quote is column 22, the pattern starts at 23.
        let yaml =
            "version: 1\nrules:\n  - name: a\n    match:\n      error: {regex: \"\(pattern)\"}\n    action: retry"
            + Self.defaultLine
        let diagnostics = RuleFixtures.diagnostics(yaml)
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.hasPrefix("r.yaml:5:\(23 + (expectedOffset ?? 0)): ") == true)
    }

    @Test(
        "a bad regex is placed on its line whatever line breaks the file uses",
        arguments: [["\n"], ["\r\n"], ["\r"], ["\r", "\r", "\n", "\n", "\n", "\n"], ["\u{85}"], ["\u{2028}"]])
    func regexLineBreaks(_ breaks: [String]) throws {
        var offset = 0
        do {
            _ = try RuleRegex("ab(cd")
        } catch {
            offset = error.offset ?? 0
        }
        let lines = [
            "version: 1", "rules:", "  - name: a", "    match:", "      error: {regex: \"ab(cd\"}", "    action: retry",
            "default: {action: give_up}",
        ]
        var yaml = lines[0]
        for (index, line) in lines.dropFirst().enumerated() { yaml += breaks[index % breaks.count] + line }
        // Line 5, the pattern's first character at column 23, in every case.
        #expect(RuleFixtures.diagnostics(yaml).first?.hasPrefix("r.yaml:5:\(23 + offset): ") == true)
    }

    @Test("regex columns step over YAML escapes in quoted patterns")
    func regexEscapes() throws {
        let parser = RuleFileParser(text: #"x: "\\d\"(" "#, file: "r.yaml", log: DiagnosticLog())
        let root = try #require(try YAMLValue.parse(#"x: "\\d\"(" "#, file: "r.yaml"))
        let value = try #require(root.mapping(DiagnosticLog(), what: "t")?.take("x"))
        // Pattern `\d"(`: offset 3 is `(`; in the source `"\\d\"(` it is column 5 + 2 + 1 + 2 = 10.
        #expect(parser.regexLocation(value, offset: 3).column == 10)
        #expect(parser.regexLocation(value, offset: nil).column == 5)
    }
}
