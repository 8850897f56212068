import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

@Suite("Rule properties")
struct RulePropertyTests {
    static let shipped = RuleSet.builtInYAML
    static let fragments = [
        "version: 1", "rules:", "default:", "defaults:", "  - name: a", "    match:", "action: retry", "{", "}", "[",
        "]", ":", "-", " ", "  ", "\n", "\t", "\"", "'", "#", "&a", "*a", "!!str", "regex: \"(\"", "status: X",
        "any:", "not:", "exists: true", "max_attempts: 0", "backoff: {initial: 1s}", "é", "\u{0}", "---", "...",
        "? ", "|", ">", "%YAML 1.2", "~", "null",
    ]

    /// Every outcome is a rule set or diagnostics placed inside the file.
    private func checkLoads(_ text: String, seed: UInt64) {
        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        do {
            let loaded = try RuleSetLoader.load(yaml: text, file: "p.yaml")
            #expect(loaded.ruleSet.files == ["p.yaml"], "seed \(seed)")
        } catch {
            #expect(!error.diagnostics.isEmpty, "seed \(seed)")
            for diagnostic in error.diagnostics {
                #expect(diagnostic.location.line >= 1 && diagnostic.location.line <= lineCount + 1, "seed \(seed)")
                #expect(diagnostic.location.column >= 1, "seed \(seed)")
            }
        }
    }

    @Test("random YAML text never crashes the loader", arguments: 0..<4)
    func randomText(batch: Int) {
        for seed in UInt64(batch * 250)..<UInt64(batch * 250 + 250) {
            var generator = SeededGenerator(seed: seed)
            var text = ""
            for _ in 0..<Int.random(in: 0...40, using: &generator) {
                text += Self.fragments.randomElement(using: &generator) ?? ""
                if Bool.random(using: &generator) { text += "\n" }
            }
            checkLoads(text, seed: seed)
        }
    }

    @Test("random mutations of the shipped rules never crash the loader", arguments: 0..<4)
    func mutations(batch: Int) {
        let original = Array(Self.shipped.unicodeScalars)
        for seed in UInt64(batch * 150)..<UInt64(batch * 150 + 150) {
            var generator = SeededGenerator(seed: seed)
            var scalars = original
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<scalars.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: scalars.remove(at: index)
                case 1:
                    let fragment = Self.fragments.randomElement(using: &generator) ?? ""
                    scalars.insert(contentsOf: fragment.unicodeScalars, at: index)
                case 2: scalars[index] = Unicode.Scalar(UInt8.random(in: 32...126, using: &generator))
                default:
                    let end = min(scalars.count, index + Int.random(in: 1...80, using: &generator))
                    scalars.insert(contentsOf: scalars[index..<end], at: end)
                }
                if scalars.isEmpty { scalars = original }
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            checkLoads(text, seed: seed)
        }
    }

    @Test("random events never crash classification; explain and classify agree")
    func randomEvents() {
        var generator = SeededGenerator(seed: 42)
        let statuses = RuleFileParser.knownStatuses + ["", "failed", "TaskDecommitmentFailed\n"]
        let words = [
            "timeout", "results missing", "Results are missing", "invalid", "429", "HTTP 503", "rate limit", "prover",
            "unavailable", "Connection reset", "é", "\u{1F600}", "(", "\\", "\"", "", "cannot retry decommitment",
        ]
        for _ in 0..<3000 {
            let status = statuses.randomElement(using: &generator) ?? ""
            var error: String?
            if Bool.random(using: &generator) {
                error = (0..<Int.random(in: 0...6, using: &generator)).map { _ in
                    words.randomElement(using: &generator) ?? ""
                }.joined(separator: " ")
            }
            let extra: [String: JSONValue] = [
                "data": .object(["chain_id": .number(Double(Int.random(in: 0...5, using: &generator)))])
            ]
            let event = RuleFixtures.event(status: status, error: error, extra: extra)
            let decision = RuleSet.builtIn.classify(event)
            #expect(RuleSet.builtIn.explain(event).decision == decision)
            #expect(RuleSet.builtIn.rules.contains { $0.name == decision.rule } || decision.rule == "default")
        }
    }
}
