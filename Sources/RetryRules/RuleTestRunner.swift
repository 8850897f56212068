import Foundation
import LinearRegex
import RetryCore
import Yams

/// One rule test case from a `tests/*.yaml` fixture: an event and the decision it must get.
public struct RuleTestCase: Sendable {
    /// The case's name, printed with its outcome.
    public var name: String
    /// The event to classify: the `event` mapping read as a webhook body, exactly as the listener
    /// reads one (``NoticeParser``); its payload is the mapping itself.
    public var event: RuleEvent
    /// The rule that must decide (`default` for the default), when the case says.
    public var expectedRule: String?
    /// The action that must be taken, when the case says.
    public var expectedAction: RuleAction?
    /// Where the case is written.
    public var location: SourceLocation
}

/// The outcome of one test case.
public struct RuleTestResult: Sendable {
    /// The case that was run.
    public var testCase: RuleTestCase
    /// What the rule set decided.
    public var actual: Classification

    /// Whether the actual decision is what the case expects.
    public var passed: Bool {
        (testCase.expectedRule.map { $0 == actual.rule } ?? true)
            && (testCase.expectedAction.map { $0 == actual.action } ?? true)
    }

    /// `rule X, action Y` as the case expects it.
    public var expectedText: String {
        var parts: [String] = []
        if let rule = testCase.expectedRule { parts.append("rule \(rule)") }
        if let action = testCase.expectedAction { parts.append("action \(action.rawValue)") }
        return parts.joined(separator: ", ")
    }

    /// `rule X, action Y` as decided.
    public var actualText: String { "rule \(actual.rule), action \(actual.action.rawValue)" }
}

/// Runs rule test fixtures: files of
///
/// ```yaml
/// cases:
///   - name: prover timeout is retried
///     event: {task_id: 01JPJ03YJT1A93D6NF56G4GVEQ, status: AtlanticProvingFailed, error: "prover timeout"}
///     expect: {rule: transient-network, action: retry}
/// ```
///
/// The event mapping is read as the webhook body it stands for, by the listener's own
/// ``NoticeParser`` (with the configured `webhook.fields`, when given): a Standard Webhooks
/// envelope (`{type, timestamp, data: {…}}`), the `uuid`/`taskId`/`task_uuid` spellings and the
/// configured paths all work as they do live, and an event the listener would refuse (no task
/// id, an invalid one, no status) or acknowledge without asking the rules (a status that is not
/// a failure) is a problem in the fixture, with its location. The mapping is also the payload, so
/// rules on dotted paths (`data.chain_id`) can be tested by writing the nested fields in the event.
public enum RuleTestRunner {
    /// The folder holding the tests of the rules at `rulesPath`: `PATH/tests` for a folder,
    /// the sibling `tests` folder for a file.
    public static func testsFolder(forRulesPath rulesPath: String) -> String {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: rulesPath, isDirectory: &isFolder), isFolder.boolValue {
            return RuleSetLoader.join(rulesPath, "tests")
        }
        let parent = (rulesPath as NSString).deletingLastPathComponent
        return RuleSetLoader.join(parent.isEmpty ? "." : parent, "tests")
    }

    /// Loads every `*.yaml`/`*.yml` fixture in `folder`, in name order, reading events with
    /// `parser` (the listener's, with the configured `webhook.fields`). A missing folder has no cases.
    public static func loadCases(
        folder: String, parser: NoticeParser = NoticeParser()
    ) throws(RulesLoadError) -> [RuleTestCase] {
        let files: [String]
        do throws(RulesLoadError) {
            files = try RuleSetLoader.ruleFiles(at: folder)
        } catch {
            if error.isNotFound || error.reason == "invalid" { return [] }
            throw error
        }
        var cases: [RuleTestCase] = []
        var problems: [SourceDiagnostic] = []
        for file in files {
            switch RuleSetLoader.readText(file) {
            case .success(let text):
                do throws(RulesLoadError) {
                    cases += try loadCases(yaml: text, file: file, parser: parser)
                } catch {
                    problems += error.diagnostics
                }
            case .failure(let diagnostic):
                problems.append(diagnostic)
            }
        }
        guard problems.isEmpty else { throw .invalid(problems) }
        return cases
    }

    /// Reads the cases of one fixture file, events with `parser`.
    public static func loadCases(
        yaml: String, file: String, parser: NoticeParser = NoticeParser()
    ) throws(RulesLoadError) -> [RuleTestCase] {
        let log = DiagnosticLog()
        var cases: [RuleTestCase] = []
        do {
            if let root = try YAMLValue.parse(yaml, file: file), let top = root.mapping(log, what: "the test file") {
                var seen: [String: SourceLocation] = [:]
                for item in top.take("cases")?.sequence(log, what: "cases") ?? [] {
                    guard let testCase = parseCase(item, parser: parser, log: log) else { continue }
                    if let first = seen[testCase.name] {
                        log.error("duplicate case name '\(testCase.name)' (first at \(first))", at: item.location)
                        continue
                    }
                    seen[testCase.name] = item.location
                    cases.append(testCase)
                }
                top.finish(log)
            }
        } catch {
            log.error(error.message, at: error.location)
        }
        guard !log.hasErrors else { throw .invalid(log.diagnostics) }
        return cases
    }

    /// Classifies each case's event with `ruleSet`.
    public static func run(_ cases: [RuleTestCase], against ruleSet: RuleSet) -> [RuleTestResult] {
        cases.map { RuleTestResult(testCase: $0, actual: ruleSet.classify($0.event)) }
    }

    private static func parseCase(_ item: YAMLValue, parser: NoticeParser, log: DiagnosticLog) -> RuleTestCase? {
        guard let mapping = item.mapping(log, what: "case") else { return nil }
        defer { mapping.finish(log) }
        let name = mapping.take("name")?.string(log, what: "case name")
        if mapping.keyLocation("name") == nil { log.error("case has no 'name'", at: item.location) }
        var event: RuleEvent?
        if let value = mapping.take("event") {
            event = parseEvent(value, parser: parser, log: log)
        } else {
            log.error("case has no 'event'", at: item.location)
        }
        var expectedRule: String?
        var expectedAction: RuleAction?
        if let value = mapping.take("expect"), let expect = value.mapping(log, what: "expect") {
            expectedRule = expect.take("rule")?.string(log, what: "expect rule")
            if let action = expect.take("action") {
                expectedAction = RuleFileParser(text: "", file: item.file, log: log).parseAction(action)
            }
            if expect.keyLocation("rule") == nil, expect.keyLocation("action") == nil {
                log.error("expect needs a 'rule', an 'action' or both", at: value.location)
            }
            expect.finish(log)
        } else if mapping.keyLocation("expect") == nil {
            log.error("case has no 'expect'", at: item.location)
        }
        guard let name, let event, expectedRule != nil || expectedAction != nil else { return nil }
        return RuleTestCase(
            name: name, event: event, expectedRule: expectedRule, expectedAction: expectedAction,
            location: item.location)
    }

    /// The event mapping as the listener would read it as a body.
    private static func parseEvent(_ value: YAMLValue, parser: NoticeParser, log: DiagnosticLog) -> RuleEvent? {
        guard value.mapping(log, what: "event") != nil else { return nil }
        do {
            switch try parser.parse(value: jsonValue(value)) {
            case .failure(let notice):
                return notice.ruleEvent
            case .notFailure(let notice):
                log.error(
                    "event status '\(notice.status)' is not a failure: the listener acknowledges it as ignored "
                        + "without asking the rules", at: value.location)
                return nil
            }
        } catch {
            log.error("event would be refused by the listener (400): \(error.description)", at: value.location)
            return nil
        }
    }

    /// The YAML node as JSON: plain `true`/`false` become booleans, plain numbers numbers, plain
    /// `null`/`~`/empty null; everything quoted stays a string.
    static func jsonValue(_ value: YAMLValue) -> JSONValue {
        switch value.node {
        case .scalar(let scalar):
            if value.isNull { return .null }
            guard scalar.style == .plain else { return .string(scalar.string) }
            switch scalar.string {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default:
                if let number = Double(scalar.string), number.isFinite { return .number(number) }
                return .string(scalar.string)
            }
        case .sequence(let items):
            return .array(items.map { jsonValue(YAMLValue(node: $0, file: value.file)) })
        case .mapping(let pairs):
            var object: [String: JSONValue] = [:]
            for (key, item) in pairs {
                guard let name = key.scalar?.string else { continue }
                object[name] = jsonValue(YAMLValue(node: item, file: value.file))
            }
            return .object(object)
        case .alias:
            return .null
        }
    }
}
