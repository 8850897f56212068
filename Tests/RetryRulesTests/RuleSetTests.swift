import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

@Suite("Rule set classification and explanation")
struct RuleSetTests {
    static let yaml = """
        version: 1
        defaults:
          max_attempts: 4
          backoff: {initial: 20s, factor: 3, max: 10m, jitter: equal}
        rules:
          - name: decommitment-results-missing
            match:
              status: TaskDecommitmentFailed
              error: {regex: "(?i)results (are )?missing"}
            action: give_up
          - name: decommitment
            match: {status: TaskDecommitmentFailed}
            action: retry
            max_attempts: 5
          - name: transient-network
            match:
              any:
                - error: {contains: timeout}
                - error: {regex: "(?i)connection (reset|refused)"}
            action: retry
            backoff: {initial: 10s}
        default: {action: give_up}
        """

    static func ruleSet() throws -> RuleSet {
        try RuleSetLoader.load(yaml: yaml, file: "r.yaml").ruleSet
    }

    @Test("the first matching rule decides")
    func firstMatch() throws {
        let ruleSet = try Self.ruleSet()
        let missing = RuleFixtures.event(status: "TaskDecommitmentFailed", error: "Results are missing; timeout")
        #expect(ruleSet.classify(missing).rule == "decommitment-results-missing")
        let other = RuleFixtures.event(status: "TaskDecommitmentFailed", error: "timeout")
        #expect(ruleSet.classify(other).rule == "decommitment")
        let network = RuleFixtures.event(status: "TraceGenFailed", error: "Connection refused")
        #expect(ruleSet.classify(network).rule == "transient-network")
        let unknown = RuleFixtures.event(status: "TraceGenFailed", error: "boom")
        #expect(ruleSet.classify(unknown).rule == "default")
    }

    @Test("rules inherit defaults; a partial backoff merges over them")
    func inheritance() throws {
        let ruleSet = try Self.ruleSet()
        let decommitment = ruleSet.classify(RuleFixtures.event(status: "TaskDecommitmentFailed", error: nil))
        #expect(decommitment.maxAttempts == 5)
        #expect(
            decommitment.backoff == BackoffPolicy(initial: .seconds(20), factor: 3, max: .seconds(600), jitter: .equal))
        let network = ruleSet.classify(RuleFixtures.event(status: "TraceGenFailed", error: "timeout"))
        #expect(network.maxAttempts == 4)
        #expect(network.backoff == BackoffPolicy(initial: .seconds(10), factor: 3, max: .seconds(600), jitter: .equal))
        let fallback = ruleSet.classify(RuleFixtures.event(status: "TraceGenFailed", error: "boom"))
        #expect(
            fallback
                == Classification(
                    rule: "default", action: .giveUp, maxAttempts: 4,
                    backoff: network.backoff.with(initial: .seconds(20))))
    }

    @Test("without defaults a rule gets 3 attempts and the standard backoff")
    func builtInDefaults() throws {
        let yaml = """
            version: 1
            rules:
              - {name: all, action: retry}
            default: {action: give_up}
            """
        let decision = try RuleSetLoader.load(yaml: yaml, file: "r.yaml").ruleSet.classify(
            RuleFixtures.event(status: "DryRunFailed", error: nil))
        #expect(decision == Classification(rule: "all", action: .retry, maxAttempts: 3, backoff: .standard))
    }

    @Test("explain names the failed condition of every earlier rule, then the decider")
    func explain() throws {
        let ruleSet = try Self.ruleSet()
        let explanation = ruleSet.explain(RuleFixtures.event(status: "AtlanticProvingFailed", error: "prover timeout"))
        #expect(explanation.skipped.map(\.rule) == ["decommitment-results-missing", "decommitment"])
        #expect(explanation.skipped[0].reason == #"status: "AtlanticProvingFailed" is not "TaskDecommitmentFailed""#)
        #expect(explanation.skipped[0].location.description == "r.yaml:6:5")
        #expect(explanation.deciding.rule == "transient-network")
        #expect(explanation.deciding.reason == #"error: "prover timeout" contains "timeout""#)
        #expect(explanation.decision.rule == "transient-network")
        #expect(explanation.text.contains("  no    decommitment (r.yaml:11:5): status: "))
        #expect(
            explanation.text.hasSuffix(
                "decision: retry (rule transient-network, max_attempts 4, backoff 10s×3 up to 10m, equal jitter)"))
    }

    @Test("explain reports a regex miss and the default")
    func explainDefault() throws {
        let ruleSet = try Self.ruleSet()
        let explanation = ruleSet.explain(RuleFixtures.event(status: "TaskDecommitmentFailed", error: "gas"))
        #expect(
            explanation.skipped.map(\.reason) == [#"error: no match for regex "(?i)results (are )?missing" in "gas""#])
        #expect(explanation.deciding.rule == "decommitment")
        let other = ruleSet.explain(RuleFixtures.event(status: "TraceGenFailed", error: "boom"))
        #expect(other.skipped.count == 3)
        #expect(
            other.skipped[2].reason
                == #"none of: error: "boom" does not contain "timeout"; error: no match for regex "(?i)connection (reset|refused)" in "boom""#
        )
        #expect(other.deciding.rule == "default")
        #expect(other.deciding.location.description == "r.yaml:22:1")
        let missingResults = ruleSet.explain(RuleFixtures.event(status: "TaskDecommitmentFailed", error: nil))
        #expect(missingResults.skipped.first?.reason == "error: absent")
    }
}

extension BackoffPolicy {
    fileprivate func with(initial: Duration) -> BackoffPolicy {
        var copy = self
        copy.initial = initial
        return copy
    }
}
