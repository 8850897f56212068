import Foundation
import Testing

extension EndToEndTests {
    /// `hdp-retry-agent tasks list|show` against a running agent: the table a person reads, and the
    /// exit codes a script reads.
    @Suite("Tasks command")
    struct TasksCommandTests {
        /// Every failure is retried, but not for an hour: the tasks stay pending while the test reads them.
        static let slowRules = """
            version: 1
            defaults:
              max_attempts: 3
              backoff: {initial: 1h, factor: 2, max: 2h, jitter: none}
            rules:
              - name: transient-network
                match: {error: {regex: "(?i)connection (reset|refused)"}}
                action: retry
              - name: everything-else
                match: {}
                action: retry
            default: {action: give_up}
            """

        @Test("list prints a table within 100 columns; show prints fields and history; errors exit non-zero")
        func listAndShow() async throws {
            try await EndToEndHarness.run { e2e in
                try Self.slowRules.write(toFile: e2e.directory + "/rules.yaml", atomically: true, encoding: .utf8)
                let agent = try await e2e.startAgent()
                let reset = randomTaskID()
                let other = randomTaskID()
                let detail = String(repeating: "and more detail ", count: 10)
                let longError = "rpc error: connection reset by peer while fetching block 21874512 " + detail
                for (index, (task, error)) in [(reset, longError), (other, "prover timeout")].enumerated() {
                    let answer = await e2e.deliver(
                        e2e.notice(task: task, error: error), id: "msg_tasks_\(index)", to: agent)
                    #expect(answer.status == 202)
                }

                let list = try await e2e.tool(["tasks", "list", "--admin", agent.adminURL])
                #expect(list.status == 0, "\(list.output)")
                let lines = list.output.split(separator: "\n").map(String.init)
                #expect(lines.first?.hasPrefix("TASK") == true, "\(list.output)")
                for header in ["STATE", "ATTEMPTS", "RULE", "NEXT DUE", "LAST ERROR"] {
                    #expect(lines.first?.contains(header) == true, "header lacks \(header): \(list.output)")
                }
                for line in lines { #expect(line.count <= 100, "wider than 100 columns: \(line)") }
                let resetLine = try #require(lines.first { $0.hasPrefix(reset) }, "\(list.output)")
                #expect(resetLine.contains("pending"))
                #expect(resetLine.contains("0/3"))
                #expect(resetLine.contains("transient-network"))
                #expect(resetLine.contains("in 1h") || resetLine.contains("in 59m"), "\(resetLine)")
                #expect(resetLine.contains("rpc error: connection r"))
                #expect(resetLine.hasSuffix("…"), "a long error is cut to the width: \(resetLine)")
                let otherLine = try #require(lines.first { $0.hasPrefix(other) }, "\(list.output)")
                #expect(otherLine.contains("everything-else"))
                #expect(otherLine.hasSuffix("prover timeout"))
                #expect(lines.last == "2 pending tasks, most overdue first")

                let show = try await e2e.tool(["tasks", "show", reset.lowercased(), "--admin", agent.adminURL])
                #expect(show.status == 0, "\(show.output)")
                #expect(show.output.contains("task         \(reset)"), "\(show.output)")
                #expect(show.output.contains("rule         transient-network (at most 3 accepted retries)"))
                #expect(show.output.contains(longError.trimmingCharacters(in: .whitespaces)), "show does not cut")
                #expect(show.output.contains("history: 1 record, oldest first"))
                #expect(
                    show.output.contains(
                        "delivery  retry_scheduled by transient-network, due +1h, AtlanticProvingFailed"))

                let ended = try await e2e.tool(["tasks", "list", "--state", "exhausted", "--admin", agent.adminURL])
                #expect(ended.status == 0)
                #expect(ended.output == "no task is exhausted\n")

                let unknown = try await e2e.tool(["tasks", "show", randomTaskID(), "--admin", agent.adminURL])
                #expect(unknown.status == 1)
                #expect(unknown.output.contains("is not in the agent's journal (404)"), "\(unknown.output)")

                let webhookPort = String(agent.webhookURL.split(separator: "/")[1])
                let wrongListener = try await e2e.tool(["tasks", "list", "--admin", webhookPort])
                #expect(wrongListener.status == 1)
                #expect(wrongListener.output.contains("is it the admin listener"), "\(wrongListener.output)")

                let json = try await e2e.tool(["tasks", "list", "--json", "--admin", agent.adminURL])
                let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
                #expect(object?["count"] as? Int == 2)

                let badState = try await e2e.tool(["tasks", "list", "--state", "stuck"])
                #expect(badState.status == 64)
                #expect(badState.output.contains("--state must be one of"))
                let badID = try await e2e.tool(["tasks", "show", "not-a-task"])
                #expect(badID.status == 64)
            }
        }

        @Test("an agent that cannot be reached is exit code 3 with the URL tried")
        func unreachable() async throws {
            try await EndToEndHarness.run { e2e in
                let result = try await e2e.tool(["tasks", "list", "--admin", "http://127.0.0.1:1"])
                #expect(result.status == 3)
                #expect(result.output.contains("cannot reach the agent's admin listener at http://127.0.0.1:1"))
            }
        }
    }
}
