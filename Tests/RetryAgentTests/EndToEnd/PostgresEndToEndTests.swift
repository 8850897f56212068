import Foundation
import HDPSimulator
import Logging
import PostgresNIO
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryPostgres

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The PostgreSQL server of the multi-agent scenarios (`HDP_RETRY_TEST_DATABASE_URL`, a user that
/// may create databases); `.ci/run` starts one. Without it the suite is skipped.
enum EndToEndDatabase {
    static let url = ProcessInfo.processInfo.environment["HDP_RETRY_TEST_DATABASE_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }

    /// Creates a database for `body` (its URL), and drops it afterwards.
    static func withFresh(_ body: (String) async throws -> Void) async throws {
        let text = try #require(url)
        let base = try PostgresURL.parse(text).get()
        let name = "hdp_retry_e2e_\(UInt64.random(in: 0...UInt64.max))"
        try await admin(base, "CREATE DATABASE \(name)")
        var target = URLComponents(string: text)!
        target.path = "/" + name
        do {
            try await body(target.string!)
        } catch {
            try? await admin(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
        try await admin(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    private static func admin(_ url: PostgresURL, _ statement: String) async throws {
        let client = PostgresClient(configuration: url.clientConfiguration(poolSize: 1), backgroundLogger: silentLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            for try await _ in try await client.query(PostgresQuery(unsafeSQL: statement)) {}
        }
    }
}

extension EndToEndTests {
    /// Several agents on one PostgreSQL database (SPEC §8), through the real binaries.
    @Suite(
        "Postgres",
        .enabled(
            if: EndToEndDatabase.url != nil,
            "HDP_RETRY_TEST_DATABASE_URL is not set: start a PostgreSQL (README, Development) to run this suite"))
    struct PostgresTests {
        /// Which agents the burst may send to, and how many answers came back.
        final class Burst: Sendable {
            let live = Mutex([true, true, true])
            let answered = Mutex(0)
        }

        /// What a delivery got, for the final accounting.
        struct Sent: Sendable {
            var task: String
            var id: String
            var answers: [Int]
        }

        @Test(
            "3 agents, duplicates sent to different agents, one kill -9 in a burst, one mid-call: nothing acknowledged lost, every task retried once"
        )
        func threeAgentsSurviveKills() async throws {
            try await EndToEndDatabase.withFresh { databaseURL in
                try await EndToEndHarness.run { e2e in
                    try await Self.scenario(e2e, databaseURL: databaseURL)
                }
            }
        }

        static func scenario(_ e2e: EndToEndHarness, databaseURL: String) async throws {
            let taskCount = 90
            let tasks = (0..<taskCount).map { _ in randomTaskID() }
            try await e2e.addSimulatorTasks(tasks.map { TaskSpec(taskID: $0, error: "prover timeout") })
            // Retry calls take 1.5 s (status checks are quick): wide windows with calls in flight.
            try await e2e.setFaults(SimulatorFaults(latencyMilliseconds: 1500, endpoints: [.retry]))
            func settings(_ name: String) -> AgentSettings {
                var settings = AgentSettings()
                settings.name = name
                settings.databaseURL = databaseURL
                settings.hdpTimeout = "2s"
                settings.lease = "6s"
                return settings
            }
            var agents: [AgentProcess] = []
            for index in 1...3 { agents.append(try await e2e.startAgent(settings("agent\(index)"))) }
            let burst = Burst()
            let first = agents

            // The burst: every task's delivery to one agent and the same delivery (same id) to the
            // next, at once. Agent 3 is killed once a third of the answers are in; a sender
            // whose delivery got no 2xx sends it again to the next live agent, as HDP's relay would.
            let sent = try await withThrowingTaskGroup(of: Sent.self) { group in
                for (index, task) in tasks.enumerated() {
                    for copy in 0..<2 {
                        group.addTask {
                            // Spread over about a second, so that the kill lands in the middle.
                            try await Task.sleep(for: .milliseconds(10 * index))
                            var answers: [Int] = []
                            var target = (index + copy) % 3
                            for _ in 0..<40 {
                                if burst.live.withLock({ $0[target] }) {
                                    let result = await e2e.deliver(
                                        e2e.notice(task: task), id: "msg_\(task)", to: first[target])
                                    answers.append(result.status)
                                    burst.answered.withLock { $0 += 1 }
                                    if result.isAcknowledged { break }
                                }
                                target = (target + 1) % 3
                                try await Task.sleep(for: .milliseconds(50))
                            }
                            return Sent(task: task, id: "msg_\(task)", answers: answers)
                        }
                    }
                }
                group.addTask {
                    try await eventually("a third of the burst answered", every: .milliseconds(5)) {
                        burst.answered.withLock { $0 } >= 2 * taskCount / 3
                    }
                    burst.live.withLock { $0[2] = false }
                    first[2].child.send(SIGKILL)
                    _ = try await first[2].child.waitForExit()
                    return Sent(task: "", id: "", answers: [])
                }
                var all: [Sent] = []
                for try await one in group where !one.id.isEmpty { all.append(one) }
                return all
            }
            let acknowledged = sent.filter { $0.answers.last.map { (200..<300).contains($0) } ?? false }
            #expect(acknowledged.count == sent.count, "every delivery is acknowledged in the end")

            // Agent 3 comes back (a restarted pod). Then agent 1 is killed while one of its retry
            // calls is out: after the call's request reached HDP, before its answer.
            agents[2] = try await e2e.startAgent(settings("agent3"))

            var killedMidCall: String?
            try await eventually("a retry call of agent 1 in flight", timeout: .seconds(30), every: .milliseconds(20)) {
                let log = agents[0].child.log
                var sending: [String] = []
                var finished: Set<String> = []
                for line in log.split(separator: "\n") {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let message = object["message"] as? String, let task = object["task_id"] as? String
                    else { continue }
                    if message == "sending retry" { sending.append(task) }
                    if message == "retry call finished" { finished.insert(task) }
                }
                guard let task = sending.first(where: { !finished.contains($0) }) else { return false }
                // The call has reached the simulator (it counts calls as they arrive).
                guard try await e2e.simulatorCalls().retry.callsByTask[task] != nil else { return false }
                killedMidCall = task
                return true
            }
            agents[0].child.send(SIGKILL)
            _ = try await agents[0].child.waitForExit()
            let interrupted = try #require(killedMidCall)

            // The survivors finish everything; the interrupted task once its lease has run out.
            let survivors = [agents[1], agents[2]]
            try await eventually("every task ended", timeout: .seconds(90), every: .milliseconds(200)) {
                for task in tasks {
                    let state = try await e2e.taskView(task, on: survivors[0])?.state
                    guard state == "retried" || state == "superseded" else { return false }
                }
                return true
            }
            for agent in survivors { try await e2e.waitSettled(agent) }

            // Every acknowledged delivery is in the journal, once.
            let exported = e2e.directory + "/exported.jsonl"
            let export = try await e2e.tool(
                ["journal", "export", "--journal", exported], environment: ["HDP_RETRY_DATABASE_URL": databaseURL])
            #expect(export.status == 0, "\(export.output)")
            var records: [JournalRecord] = []
            let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: exported))) ?? Data())
            let scan = JournalReader.scan(bytes) { records.append($0) }
            #expect(scan.corrupt.isEmpty && scan.tornTail == nil)
            var journaled: [String: Int] = [:]
            for record in records {
                if case .delivery(let delivery) = record.body { journaled["\(delivery.deliveryID)", default: 0] += 1 }
            }
            let missing = acknowledged.filter { journaled[$0.id] == nil }
            #expect(missing.isEmpty, "acknowledged but not journaled: \(missing.map(\.id))")
            #expect(journaled.values.allSatisfy { $0 == 1 }, "a delivery id journaled twice")

            // Every due retry done once: one accepted retry per task, none of a task not failed.
            let calls = try await e2e.simulatorCalls()
            let perTask = tasks.map { calls.retry.byTask[$0] ?? 0 }
            #expect(perTask.allSatisfy { $0 == 1 }, "accepted retries per task: \(perTask)")
            #expect(calls.retry.duplicate == 0)
            #expect(calls.retry.callsByTask[interrupted] == 1)
            let interruptedView = try await e2e.taskView(interrupted, on: survivors[0])
            #expect(interruptedView?.attempts == 1)

            // Each agent did part of the work, and reads the same state.
            var inspected = try await e2e.tool(
                ["journal", "inspect", "--config", e2e.directory + "/agent2.yaml", "--task", interrupted],
                environment: ["HDP_RETRY_DATABASE_URL": databaseURL])
            inspected.output = String(inspected.output.drop { $0 != "{" })
            let view = try JSONDecoder().decode(TaskView.self, from: Data(inspected.output.utf8))
            #expect(view.attempts == 1)

            let deliveriesSent = sent.reduce(0) { $0 + $1.answers.count }
            let answers = sent.flatMap(\.answers)
            let accepted = answers.filter { $0 == 202 }.count
            let duplicates = answers.filter { $0 == 200 }.count
            let refused = answers.filter { !(200..<300).contains($0) }.count
            let takenOver = records.filter {
                if case .episodeEnded(let ended) = $0.body {
                    ended.reason == .interruptedAttemptWentThrough
                } else {
                    false
                }
            }.count
            print(
                """
                PostgreSQL multi-agent end-to-end: \(tasks.count) tasks, \(sent.count) deliveries (each task's \
                delivery sent to two agents), \(deliveriesSent) HTTP sends; answers: \(accepted) × 202, \
                \(duplicates) × 200 duplicate, \(refused) × no answer or 503 (sent again); acknowledged \
                \(acknowledged.count)/\(sent.count), journaled \(journaled.count) delivery ids (0 twice); \
                accepted retries per task: min \(perTask.min() ?? 0), max \(perTask.max() ?? 0); retry calls \
                \(calls.retry.total), duplicate retries \(calls.retry.duplicate); killed mid-call: \
                \(interrupted) (\(calls.retry.callsByTask[interrupted] ?? 0) call, \(takenOver) interrupted \
                attempt(s) found gone through)
                """)
        }
    }
}
