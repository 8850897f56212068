import Foundation
import HDPSimulator
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension EndToEndTests {
    /// The journal under crashes: deliveries under concurrent load, `kill -9` at random moments,
    /// restart, many times over.
    @Suite("Journal")
    struct JournalTests {
        /// A delivery the agent answered 2xx: it must survive every crash that follows.
        struct Acknowledged: Sendable {
            var id: String
            var task: String
            var body: [UInt8]
        }

        /// The acknowledged deliveries so far, shared by the senders.
        final class AcknowledgedDeliveries: Sendable {
            private let entries = Mutex<[Acknowledged]>([])
            var all: [Acknowledged] { entries.withLock { $0 } }
            func append(_ entry: Acknowledged) { entries.withLock { $0.append(entry) } }
            func random() -> Acknowledged? { entries.withLock { $0.randomElement() } }
        }

        static let cycles = 20
        static let senders = 8

        @Test("crash loop: kill -9 under load, restart, 20 times; nothing acknowledged lost, nothing retried twice")
        func crashLoop() async throws {
            try await EndToEndHarness.run { e2e in
                // A little latency keeps retry calls open long enough for some kills to land mid-call.
                try await e2e.setFaults(SimulatorFaults(latencyMilliseconds: 20))
                let acknowledged = AcknowledgedDeliveries()
                var tasks: [String] = []
                // Compaction from 32 KiB on, so that kills also land during and between compactions.
                let settings = AgentSettings(compactAboveBytes: 32_768)
                var agent = try await e2e.startAgent(settings)
                var tornTails = 0
                for cycle in 0..<Self.cycles {
                    // Fresh failed tasks every cycle, so that retries (and kills in the middle of
                    // them) happen all through the loop, not only in its first cycles.
                    let fresh = (0..<4).map { _ in randomTaskID() }
                    try await e2e.addSimulatorTasks(fresh.map { TaskSpec(taskID: $0, error: "prover timeout") })
                    tasks += fresh
                    let current = agent
                    let pool = tasks
                    let killAfter = Duration.milliseconds(Int.random(in: 30...300))
                    await withTaskGroup(of: Void.self) { group in
                        for sender in 0..<Self.senders {
                            group.addTask {
                                await Self.send(
                                    as: "c\(cycle)s\(sender)", to: current, e2e: e2e, fresh: fresh, all: pool,
                                    acknowledged: acknowledged)
                            }
                        }
                        group.addTask {
                            try? await Task.sleep(for: killAfter)
                            current.child.send(SIGKILL)
                        }
                    }
                    let exit = try await current.child.waitForExit()
                    try #require(exit?.signalled == true, "cycle \(cycle): the agent did not die of SIGKILL")
                    tornTails += try await Self.verify(e2e, cycle: cycle)

                    if cycle % 4 == 3 {
                        // Now and then, a kill while the restarted agent replays and opens its listeners.
                        let starting = try e2e.spawnAgent(settings)
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...100)))
                        starting.send(SIGKILL)
                        _ = try await starting.waitForExit()
                        tornTails += try await Self.verify(e2e, cycle: cycle)
                    }

                    agent = try await e2e.startAgent(settings)
                    let journaled = try Self.deliveryKeys(in: e2e.journal())
                    let lost = acknowledged.all.filter { !journaled.contains(DeliveryKey(id: $0.id)) }.map(\.id)
                    #expect(lost.isEmpty, "cycle \(cycle): acknowledged deliveries missing after restart: \(lost)")
                }

                try await e2e.waitSettled(agent)
                let calls = try await e2e.simulatorCalls()
                let acknowledgedTasks = Set(acknowledged.all.map(\.task))
                #expect(calls.retry.duplicate == 0)
                #expect(
                    calls.retry.byTask.values.allSatisfy { $0 <= 1 }, "a task was retried twice: \(calls.retry.byTask)")
                for task in acknowledgedTasks.sorted() {
                    #expect(calls.retry.byTask[task] == 1, "\(task) was acknowledged but never retried")
                    let state = try await e2e.taskView(task, on: agent)?.state
                    #expect(state == "retried" || state == "superseded", "\(task) ended \(state ?? "unknown")")
                }
                let exit = try await e2e.stop(agent)
                #expect(exit?.status == 0 && exit?.signalled == false)
                let verify = try await e2e.tool(["journal", "verify", "--journal", e2e.journalPath])
                #expect(verify.status == 0)
                #expect(verify.output.contains(" 0 corrupt"))
                let logs = try Self.logSummary(in: e2e.directory)
                print(
                    "crash loop: \(Self.cycles) kills under load, \(acknowledged.all.count) acknowledged deliveries, "
                        + "\(acknowledgedTasks.count) tasks, \(calls.retry.accepted) accepted retries, "
                        + "\(logs.interrupted) interrupted attempts found by restarts, \(logs.compactions) compactions, "
                        + "\(tornTails) torn tails")
            }
        }

        /// `journal verify` must pass after every crash (a torn tail is reported, not an error);
        /// returns 1 when it reported a torn tail.
        static func verify(_ e2e: EndToEndHarness, cycle: Int) async throws -> Int {
            let verify = try await e2e.tool(["journal", "verify", "--journal", e2e.journalPath])
            try #require(verify.status == 0, "cycle \(cycle): journal verify failed:\n\(verify.output)")
            return verify.output.contains("torn tail") ? 1 : 0
        }

        /// What the agents' logs say happened: interrupted attempts found at replay (from the
        /// "journal replayed" lines) and compactions queued.
        static func logSummary(in directory: String) throws -> (interrupted: Int, compactions: Int) {
            var summary = (interrupted: 0, compactions: 0)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasPrefix("agent-") {
                let log = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
                for line in log.split(separator: "\n") {
                    if line.contains(#""message":"journal compaction queued""#) { summary.compactions += 1 }
                    guard line.contains(#""message":"journal replayed""#),
                        let range = line.range(of: #""interrupted":""#)
                    else { continue }
                    summary.interrupted += Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
                }
            }
            return summary
        }

        /// One sender: new deliveries, mostly for this cycle's fresh tasks, some for older ones
        /// (half with a failure time, half without), and now and then a redelivery of an
        /// acknowledged one, which must be answered as a duplicate. Stops at the first delivery
        /// that gets no HTTP answer (the agent was killed).
        static func send(
            as sender: String, to agent: AgentProcess, e2e: EndToEndHarness, fresh: [String], all: [String],
            acknowledged: AcknowledgedDeliveries
        ) async {
            for number in 0..<2000 {
                if Int.random(in: 0..<5) == 0, let old = acknowledged.random() {
                    let again = await e2e.deliver(old.body, id: old.id, to: agent)
                    if again.status == 0 { return }
                    #expect(
                        again.status == 200 && again.body?.duplicate == true,
                        "redelivery of \(old.id): HTTP \(again.status)")
                    continue
                }
                let task = (Int.random(in: 0..<10) < 7 ? fresh : all).randomElement()!
                let body = e2e.notice(task: task, timestamp: Bool.random() ? Date(timeIntervalSinceNow: -60) : nil)
                let id = "\(sender)n\(number)"
                let result = await e2e.deliver(body, id: id, to: agent)
                if result.status == 0 { return }
                #expect(result.status == 202, "delivery \(id): HTTP \(result.status)")
                if result.isAcknowledged { acknowledged.append(Acknowledged(id: id, task: task, body: body)) }
            }
        }

        /// Every delivery the journal remembers, from delivery records and compaction snapshots.
        static func deliveryKeys(in records: [JournalRecord]) -> Set<DeliveryKey> {
            var ids = Set<DeliveryKey>()
            for record in records {
                switch record.body {
                case .delivery(let delivery): ids.insert(delivery.deliveryKey)
                case .deliveriesSnapshot(let seen): ids.formUnion(seen.map(\.key))
                default: break
                }
            }
            return ids
        }
    }
}
