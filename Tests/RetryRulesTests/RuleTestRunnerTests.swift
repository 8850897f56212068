import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

@Suite("Rule test runner")
struct RuleTestRunnerTests {
    static let rules = """
        version: 1
        rules:
          - {name: sepolia, action: retry, match: {data.chain_id: 11155111}}
          - {name: timeouts, action: retry, match: {error: {contains: timeout}}}
        default: {action: give_up}
        """

    @Test("cases pass and fail with expected and actual; the event is the payload")
    func run() throws {
        let fixtures = """
            cases:
              - name: nested payload fields reach dotted paths
                event: {task_id: 01JPJ03YJT1A93D6NF56G4GVEQ, status: DryRunFailed, data: {chain_id: 11155111}}
                expect: {rule: sepolia, action: retry}
              - name: wrong expectation
                event: {status: TraceGenFailed, error: "prover timeout"}
                expect: {rule: default}
              - name: action only
                event: {status: TraceGenFailed, error: ~}
                expect: {action: give_up}
            """
        let ruleSet = try RuleSetLoader.load(yaml: Self.rules, file: "r.yaml").ruleSet
        let cases = try RuleTestRunner.loadCases(yaml: fixtures, file: "t.yaml")
        #expect(cases.map(\.event.error) == [nil, "prover timeout", nil])
        let results = RuleTestRunner.run(cases, against: ruleSet)
        #expect(results.map(\.passed) == [true, false, true])
        #expect(results[1].expectedText == "rule default")
        #expect(results[1].actualText == "rule timeouts, action retry")
        #expect(results[1].testCase.location.description == "t.yaml:5:5")
    }

    @Test("fixture problems are diagnostics with locations")
    func invalid() {
        let fixtures = """
            cases:
              - name: a
                event: {error: x}
                expect: {rule: r, actoin: retry}
              - name: a
                event: {status: X}
            """
        do {
            _ = try RuleTestRunner.loadCases(yaml: fixtures, file: "t.yaml")
            Issue.record("invalid fixtures must not load")
        } catch {
            #expect(
                error.diagnostics.map(\.description) == [
                    "t.yaml:3:12: event has no 'status'",
                    "t.yaml:4:23: unknown key 'actoin' in expect (did you mean 'action'?)",
                    "t.yaml:5:5: case has no 'expect'",
                ])
        }
    }
}
