import Foundation
import Testing

extension EndToEndTests {
    /// `hdp-retry-agent rules backtest` on the journal of a running agent: what a candidate rule
    /// set would change, the exit status a review pipeline reads, and a journal and agent left
    /// exactly as they were.
    @Suite("Rules backtest")
    struct BacktestTests {
        /// The shipped rules.
        static let shipped = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules/hdp.yaml")

        /// The shipped rules without jitter and with a first retry an hour out (rules with their
        /// own backoff keep theirs, all at least a minute), so no retry runs during the test.
        static func liveRules() throws -> String {
            let text = try String(contentsOf: shipped, encoding: .utf8)
            let slow = text.replacingOccurrences(
                of: "backoff: {initial: 30s, factor: 2, max: 30m, jitter: full}",
                with: "backoff: {initial: 1h, factor: 2, max: 2h, jitter: none}")
            try #require(slow != text, "the shipped defaults changed; update this test")
            return slow
        }

        /// `prover-unavailable` gives up instead of retrying.
        static func candidate(_ live: String) throws -> String {
            let marker = "  - name: prover-unavailable"
            let parts = live.components(separatedBy: marker)
            try #require(parts.count == 2)
            let changed = parts[1].replacingOccurrences(
                of: "    action: retry\n    max_attempts: 5\n    backoff: {initial: 5m, max: 1h}",
                with: "    action: give_up")
            try #require(changed != parts[1], "the shipped prover-unavailable rule changed; update this test")
            return parts[0] + marker + changed
        }

        @Test("a rule changed from retry to give_up: exit 1, its failures counted; journal and agent untouched")
        func retryToGiveUp() async throws {
            try await EndToEndHarness.run { e2e in
                let live = try Self.liveRules()
                try live.write(toFile: e2e.directory + "/rules.yaml", atomically: true, encoding: .utf8)
                let candidatePath = e2e.directory + "/candidate.yaml"
                try Self.candidate(live).write(toFile: candidatePath, atomically: true, encoding: .utf8)
                let agent = try await e2e.startAgent()

                let prover = (0..<3).map { _ in randomTaskID() }
                let network = (0..<2).map { _ in randomTaskID() }
                let decommitment = randomTaskID()
                var deliveries: [(body: [UInt8], id: String)] = []
                for (index, task) in prover.enumerated() {
                    deliveries.append(
                        (e2e.notice(task: task, error: "Atlantic prover unavailable (maintenance)"), "msg_p\(index)"))
                }
                for (index, task) in network.enumerated() {
                    deliveries.append(
                        (
                            e2e.notice(
                                task: task, status: "TraceGenFailed", error: "rpc error: connection reset by peer"),
                            "msg_n\(index)"
                        ))
                }
                deliveries.append(
                    (
                        e2e.notice(task: decommitment, status: "TaskDecommitmentFailed", error: "Results are missing"),
                        "msg_d"
                    ))
                // Not decided by the rules: a second notice joins the open episode, and a success.
                deliveries.append(
                    (e2e.notice(task: network[0], status: "TraceGenFailed", error: "timeout"), "msg_join"))
                deliveries.append(
                    (e2e.notice(task: randomTaskID(), status: "TaskDecommitmentCompleted", error: ""), "msg_ok"))
                for delivery in deliveries {
                    let answer = await e2e.deliver(delivery.body, id: delivery.id, to: agent)
                    #expect(answer.status == 202)
                }

                let before = try Data(contentsOf: URL(fileURLWithPath: e2e.journalPath))
                let config = e2e.directory + "/agent.yaml"
                let text = try await e2e.tool(["rules", "backtest", "--rules", candidatePath, "--config", config])
                #expect(text.status == 1, "\(text.output)")
                let lines = text.output.split(separator: "\n").map(String.init)
                let changedRow = try #require(lines.first { $0.hasSuffix("  changed") }, "\(text.output)")
                #expect(changedRow.hasPrefix("prover-unavailable/retry "), "\(changedRow)")
                #expect(changedRow.contains("→ prover-unavailable/give_up"))
                #expect(changedRow.contains(" 3  changed"))
                #expect(
                    lines.contains(
                        "changed: prover-unavailable/retry → prover-unavailable/give_up, 3 failures; the first 3:"))
                for task in prover {
                    #expect(
                        lines.contains {
                            $0.hasPrefix("  \(task)  ") && $0.hasSuffix("\"Atlantic prover unavailable (maintenance)\"")
                        },
                        "\(text.output)")
                }
                #expect(lines.contains("6 decided again: 3 unchanged, 3 changed; 0 not decidable"), "\(text.output)")
                #expect(text.output.contains("left alone (not_a_failure 1, open_episode 1)"))

                let json = try await e2e.tool([
                    "rules", "backtest", "--rules", candidatePath, "--journal", e2e.journalPath, "--format", "json",
                    "--since", "1h",
                ])
                #expect(json.status == 1)
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
                let totals = try #require(object["totals"] as? [String: Int])
                #expect(totals == ["decided": 6, "unchanged": 3, "changed": 3, "not_decidable": 0])
                let transitions = try #require(object["transitions"] as? [[String: Any]])
                let first = try #require(transitions.first)
                #expect(first["changed"] as? Bool == true && first["failures"] as? Int == 3)
                #expect((first["after"] as? [String: String]) == ["rule": "prover-unavailable", "action": "give_up"])

                // The live rules themselves change nothing: exit 0.
                let same = try await e2e.tool([
                    "rules", "backtest", "--rules", e2e.directory + "/rules.yaml", "--journal", e2e.journalPath,
                ])
                #expect(same.status == 0, "\(same.output)")
                #expect(same.output.contains("6 decided again: 6 unchanged, 0 changed; 0 not decidable"))

                // A broken candidate: its diagnostics with line and column, exit 2, nothing decided.
                let broken = e2e.directory + "/broken.yaml"
                try "version: 1\nrules:\n  - name: x\n    action: retrry\ndefault: {action: give_up}\n".write(
                    toFile: broken, atomically: true, encoding: .utf8)
                let refused = try await e2e.tool(["rules", "backtest", "--rules", broken, "--journal", e2e.journalPath])
                #expect(refused.status == 2)
                #expect(refused.output.contains("\(broken):4:13:"), "\(refused.output)")

                // Not a journal, a FIFO, a window that is not a positive duration: exit 2, said why.
                let noise = e2e.directory + "/noise.bin"
                try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }).write(
                    to: URL(fileURLWithPath: noise))
                let notJournal = try await e2e.tool(["rules", "backtest", "--rules", candidatePath, "--journal", noise])
                #expect(notJournal.status == 2)
                #expect(notJournal.output.contains("not a journal"), "\(notJournal.output)")
                let fifo = e2e.directory + "/fifo"
                #expect(mkfifo(fifo, 0o600) == 0)
                let piped = try await e2e.tool(["rules", "backtest", "--rules", candidatePath, "--journal", fifo])
                #expect(piped.status == 2)
                #expect(piped.output.contains("not a regular file"), "\(piped.output)")
                for since in ["0s", "87601h", "soon"] {
                    let window = try await e2e.tool([
                        "rules", "backtest", "--rules", candidatePath, "--journal", e2e.journalPath, "--since", since,
                    ])
                    #expect(window.status == 2)
                    #expect(window.output.contains("must be a positive duration"), "\(window.output)")
                }

                // The journal is byte for byte what it was, and the agent goes on as before.
                #expect(try Data(contentsOf: URL(fileURLWithPath: e2e.journalPath)) == before)
                let after = await e2e.deliver(
                    e2e.notice(task: randomTaskID(), error: "prover timeout"), id: "msg_after", to: agent)
                #expect(after.status == 202)
                #expect(try await e2e.request(.GET, agent.adminURL + "/readyz").status == 200)
                let records = try e2e.journal()
                #expect(records.count == deliveries.count + 1)
                #expect(records.last?.seq == UInt64(deliveries.count + 1))
            }
        }
    }
}
