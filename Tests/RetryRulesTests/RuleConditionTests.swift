import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

/// Shared builders for the rule tests.
enum RuleFixtures {
    static let taskID = "01JPJ03YJT1A93D6NF56G4GVEQ"

    /// An event whose payload mirrors its fields plus `extra`.
    static func event(status: String, error: String?, extra: [String: JSONValue] = [:]) -> RuleEvent {
        var object = extra
        object["task_id"] = .string(taskID)
        object["status"] = .string(status)
        if let error { object["error"] = .string(error) }
        return RuleEvent(taskID: taskID, status: status, error: error, payload: .object(object))
    }

    /// The event most condition cases run against.
    static let proverTimeout = event(
        status: "AtlanticProvingFailed", error: "Prover Timeout after 30s",
        extra: [
            "data": .object([
                "chain_id": .number(11_155_111), "tags": .array([.string("a")]),
                "nested": .object(["x": .string("y")]),
            ]),
            "flag": .bool(true), "nothing": .null,
        ])

    /// A one-rule set named `r` matching `match` (YAML flow text), default `give_up`.
    static func ruleSet(match: String) throws -> RuleSet {
        let yaml = """
            version: 1
            rules:
              - name: r
                match: \(match)
                action: retry
            default: {action: give_up}
            """
        return try RuleSetLoader.load(yaml: yaml, file: "r.yaml").ruleSet
    }

    /// Every diagnostic of loading `yaml` as `r.yaml`, as printed; empty when it loads cleanly.
    static func diagnostics(_ yaml: String) -> [String] {
        do {
            return try RuleSetLoader.load(yaml: yaml, file: "r.yaml").warnings.map(\.description)
        } catch {
            return error.diagnostics.map(\.description)
        }
    }
}

@Suite("Rule conditions")
struct RuleConditionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var match: String
        var matches: Bool
        var testDescription: String { "\(match) → \(matches)" }
    }

    static let cases: [Case] = [
        Case(match: "{status: AtlanticProvingFailed}", matches: true),
        Case(match: "{status: atlanticprovingfailed}", matches: false),
        Case(match: "{status: [DryRunFailed, AtlanticProvingFailed]}", matches: true),
        Case(match: "{status: [DryRunFailed]}", matches: false),
        Case(match: "{status: {equals: AtlanticProvingFailed}}", matches: true),
        Case(match: "{status: {in: [TraceGenFailed, DryRunFailed]}}", matches: false),
        Case(match: "{status: {in: [TraceGenFailed, AtlanticProvingFailed]}}", matches: true),
        Case(match: "{error: {contains: timeout}}", matches: true),
        Case(match: "{error: {contains: TIMEOUT}}", matches: true),
        Case(match: "{error: {contains: refused}}", matches: false),
        Case(match: "{error: {equals: prover timeout after 30s}}", matches: false),
        Case(match: "{error: {regex: Timeout}}", matches: true),
        Case(match: "{error: {regex: timeout}}", matches: false),
        Case(match: "{error: {regex: \"(?i)timeout\"}}", matches: true),
        Case(match: "{error: {regex: \"after [0-9]+s\"}}", matches: true),
        Case(match: "{data.chain_id: 11155111}", matches: true),
        Case(match: "{data.chain_id: \"11155111\"}", matches: true),
        Case(match: "{data.chain_id: 1}", matches: false),
        Case(match: "{data.chain_id: {exists: true}}", matches: true),
        Case(match: "{data.missing: {exists: false}}", matches: true),
        Case(match: "{data.missing: {exists: true}}", matches: false),
        Case(match: "{nothing: {exists: false}}", matches: true),
        Case(match: "{data.missing: x}", matches: false),
        Case(match: "{data.missing: {contains: x}}", matches: false),
        Case(match: "{data.missing: {regex: \".\"}}", matches: false),
        Case(match: "{data.missing: {not: {equals: x}}}", matches: true),
        Case(match: "{data.nested: {contains: x}}", matches: false),
        Case(match: "{data.tags.0: a}", matches: true),
        Case(match: "{flag: true}", matches: true),
        Case(match: "{task_id: 01JPJ03YJT1A93D6NF56G4GVEQ}", matches: true),
        Case(match: "{error: {not: {contains: timeout}}}", matches: false),
        Case(match: "{status: {not: [DryRunFailed, TraceGenFailed]}}", matches: true),
        Case(match: "{any: [{status: DryRunFailed}, {error: {contains: timeout}}]}", matches: true),
        Case(match: "{any: [{status: DryRunFailed}, {status: TraceGenFailed}]}", matches: false),
        Case(match: "{all: [{status: AtlanticProvingFailed}, {error: {contains: timeout}}]}", matches: true),
        Case(match: "{all: [{status: AtlanticProvingFailed}, {error: {contains: nope}}]}", matches: false),
        Case(match: "{not: {status: AtlanticProvingFailed}}", matches: false),
        Case(match: "{not: {status: DryRunFailed}}", matches: true),
        Case(match: "{status: AtlanticProvingFailed, error: {contains: nope}}", matches: false),
        Case(match: "{not: {any: [{status: DryRunFailed}, {all: [{flag: false}]}]}}", matches: true),
        Case(match: "{}", matches: true),
    ]

    @Test("each condition form and combinator", arguments: cases)
    func condition(_ testCase: Case) throws {
        let ruleSet = try RuleFixtures.ruleSet(match: testCase.match)
        let decision = ruleSet.classify(RuleFixtures.proverTimeout)
        #expect((decision.rule == "r") == testCase.matches)
        // The explaining evaluation must agree with the fast one.
        #expect(ruleSet.explain(RuleFixtures.proverTimeout).decision == decision)
    }

    @Test("an absent error exists: false and never equals, contains or matches")
    func absentError() throws {
        let event = RuleFixtures.event(status: "TraceGenFailed", error: nil)
        #expect(try RuleFixtures.ruleSet(match: "{error: {exists: false}}").classify(event).rule == "r")
        for match in ["{error: \"\"}", "{error: {contains: a}}", "{error: {regex: \"x*\"}}", "{error: {exists: true}}"]
        {
            #expect(try RuleFixtures.ruleSet(match: match).classify(event).rule == "default")
        }
    }

    @Test("a rule without match matches everything")
    func noMatch() throws {
        let yaml = """
            version: 1
            rules:
              - name: everything
                action: ignore
            default: {action: give_up}
            """
        let ruleSet = try RuleSetLoader.load(yaml: yaml, file: "r.yaml").ruleSet
        #expect(ruleSet.classify(RuleFixtures.event(status: "X", error: nil)).action == .ignore)
    }
}
