import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

@Suite("Shipped HDP rules")
struct RuleShippedTests {
    /// The repository's `rules/` folder, found from this file's path.
    static let rulesFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("rules").path

    @Test("the built-in copy is byte for byte rules/hdp.yaml")
    func builtInMatchesFile() throws {
        let data = try #require(FileManager.default.contents(atPath: Self.rulesFolder + "/hdp.yaml"))
        #expect(Array(RuleSet.builtInYAML.utf8) == Array(data))
    }

    @Test("the built-in rules load without errors or warnings")
    func builtInLoads() throws {
        let loaded = try RuleSetLoader.load(yaml: RuleSet.builtInYAML, file: "hdp.yaml")
        #expect(loaded.warnings.isEmpty)
        #expect(RuleSet.builtIn.rules.count == loaded.ruleSet.rules.count)
        #expect(RuleSet.builtIn.rules.count > 0)
        #expect(RuleSet.builtIn.defaultRule.action == .giveUp)
    }

    @Test("the shipped rules pass their own tests, which cover every rule and the default")
    func ownTests() throws {
        let loaded = try RuleSetLoader.load(path: Self.rulesFolder)
        let cases = try RuleTestRunner.loadCases(folder: RuleTestRunner.testsFolder(forRulesPath: Self.rulesFolder))
        let results = RuleTestRunner.run(cases, against: loaded.ruleSet)
        #expect(!results.isEmpty)
        for result in results where !result.passed {
            Issue.record("\(result.testCase.name): expected \(result.expectedText), got \(result.actualText)")
        }
        let covered = Set(results.map(\.actual.rule))
        #expect(covered == Set(loaded.ruleSet.rules.map(\.name) + ["default"]))
    }

    @Test(
        "the five failure states",
        arguments: [
            (
                "TaskDecommitmentFailed", "Cannot retry decommitment: results missing", "decommitment-results-missing",
                RuleAction.giveUp
            ),
            ("TaskDecommitmentFailed", "nonce too low", "decommitment", .retry),
            ("DryRunFailed", "validation error: bad sampled property", "dry-run-invalid-input", .giveUp),
            ("DryRunFailed", "rpc error: upstream connection refused", "transient-network", .retry),
            ("ChainProofsFetchFailed", "rate limit exceeded", "rate-limited", .retry),
            ("TraceGenFailed", "status code: 504", "transient-network", .retry),
            ("AtlanticProvingFailed", "Prover is overloaded, try later", "prover-unavailable", .retry),
            ("AtlanticProvingFailed", "proof verification failed", "default", .giveUp),
        ])
    func states(status: String, error: String, rule: String, action: RuleAction) {
        let decision = RuleSet.builtIn.classify(RuleFixtures.event(status: status, error: error))
        #expect(decision.rule == rule)
        #expect(decision.action == action)
    }
}
