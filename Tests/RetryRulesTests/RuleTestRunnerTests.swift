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
                event: {task_id: 01JPJ03YJT1A93D6NF56G4GVEQ, status: TraceGenFailed, error: "prover timeout"}
                expect: {rule: default}
              - name: action only
                event: {task_id: 01JPJ03YJT1A93D6NF56G4GVEQ, status: TraceGenFailed, error: ~}
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
            let noTaskID =
                "event would be refused by the listener (400): no task id: looked at task_id, uuid, taskId, "
                + "task_uuid (at the top level and in data)"
            #expect(
                error.diagnostics.map(\.description) == [
                    "t.yaml:3:12: \(noTaskID)",
                    "t.yaml:4:23: unknown key 'actoin' in expect (did you mean 'action'?)",
                    "t.yaml:6:12: \(noTaskID)",
                    "t.yaml:5:5: case has no 'expect'",
                ])
        }
    }

    /// SPEC §9: fixtures read events exactly as the listener reads bodies.
    @Test("events are read as the listener reads bodies: envelope, id spellings, webhook.fields")
    func eventsReadAsBodies() throws {
        let fixtures = """
            cases:
              - name: a Standard Webhooks envelope
                event: {type: task.failed, timestamp: "2025-03-17T10:00:00Z", data: {uuid: 01JPJ03YJT1A93D6NF56G4GVEQ, status: DryRunFailed, chain_id: 11155111}}
                expect: {rule: sepolia}
              - name: another id spelling, lower case
                event: {taskId: 01jpj03yjt1a93d6nf56g4gveq, status: TraceGenFailed, error: "prover timeout"}
                expect: {rule: timeouts}
            """
        let cases = try RuleTestRunner.loadCases(yaml: fixtures, file: "t.yaml")
        #expect(cases.map(\.event.taskID) == ["01JPJ03YJT1A93D6NF56G4GVEQ", "01JPJ03YJT1A93D6NF56G4GVEQ"])
        #expect(cases.map(\.event.status) == ["DryRunFailed", "TraceGenFailed"])
        // The payload is the whole body, envelope included: `data.chain_id` reaches the rule.
        #expect(cases[0].event.payload[path: "data.chain_id"] == .number(11_155_111))
        let ruleSet = try RuleSetLoader.load(yaml: Self.rules, file: "r.yaml").ruleSet
        #expect(RuleTestRunner.run(cases, against: ruleSet).map(\.passed) == [true, true])

        let relay = """
            cases:
              - name: a relay's own shape through webhook.fields
                event: {payload: {task: {id: 01JPJ03YJT1A93D6NF56G4GVEQ, state: AtlanticProvingFailed}, reason: "prover timeout"}}
                expect: {rule: timeouts, action: retry}
            """
        let parser = NoticeParser(
            fields: .init(taskID: "payload.task.id", status: "payload.task.state", error: "payload.reason"))
        let relayed = try RuleTestRunner.loadCases(yaml: relay, file: "t.yaml", parser: parser)
        #expect(relayed.first?.event.error == "prover timeout")
        #expect(RuleTestRunner.run(relayed, against: ruleSet).map(\.passed) == [true])
        #expect(throws: RulesLoadError.self) { try RuleTestRunner.loadCases(yaml: relay, file: "t.yaml") }
    }

    @Test("an event the listener would not classify is a fixture problem")
    func eventsTheListenerWouldNotClassify() {
        let fixtures = """
            cases:
              - name: a success callback
                event: {task_id: 01JPJ03YJT1A93D6NF56G4GVEQ, status: TaskDecommitmentCompleted}
                expect: {action: ignore}
              - name: not a task id
                event: {task_id: "../../admin", status: TraceGenFailed}
                expect: {action: retry}
            """
        do {
            _ = try RuleTestRunner.loadCases(yaml: fixtures, file: "t.yaml")
            Issue.record("the fixtures must not load")
        } catch {
            let messages = error.diagnostics.map(\.description)
            #expect(messages.count == 2)
            #expect(
                messages.first
                    == "t.yaml:3:12: event status 'TaskDecommitmentCompleted' is not a failure: the listener "
                    + "acknowledges it as ignored without asking the rules")
            #expect(
                messages.last?.hasPrefix("t.yaml:6:12: event would be refused by the listener (400): `task_id`") == true
            )
        }
    }
}
