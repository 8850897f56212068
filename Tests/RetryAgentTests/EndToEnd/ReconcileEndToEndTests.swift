import Foundation
import HDPSimulator
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `GET /_sim/calls` says about the task list, the retries and the failure callbacks.
struct ReconcileSimulatorCalls: Decodable, Sendable {
    struct List: Decodable, Sendable {
        var total: Int
        var byPage: [String: Int]
        enum CodingKeys: String, CodingKey {
            case total
            case byPage = "by_page"
        }
    }
    struct Webhooks: Decodable, Sendable {
        var sent: Int
        var dropped: Int
        var failed: Int
        var pending: Int
    }
    var retry: SimulatorCalls.Retry
    var list: List
    var webhooks: Webhooks
}

extension EndToEndHarness {
    /// `GET /_sim/calls`, with the list and the callbacks.
    func reconcileCalls() async throws -> ReconcileSimulatorCalls {
        try JSONDecoder().decode(
            ReconcileSimulatorCalls.self, from: Data(try await request(.GET, simulatorURL + "/_sim/calls").body))
    }

    /// `PUT /_sim/webhooks`: where HDP's failure callbacks go, and whether they are lost.
    func setWebhooks(url: String, drop: Bool = false) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["url": url, "drop": drop])
        let answer = try await request(.PUT, simulatorURL + "/_sim/webhooks", body: Array(body))
        try #require(answer.status == 200)
    }

    /// `updated_at` of each task the simulator holds, exactly as it spells it.
    func simulatorUpdatedAt() async throws -> [String: String] {
        let body = try await request(.GET, simulatorURL + "/_sim/tasks").body
        let object = try JSONSerialization.jsonObject(with: Data(body))
        let tasks = (object as? [[String: Any]]) ?? ((object as? [String: Any])?["tasks"] as? [[String: Any]]) ?? []
        var times: [String: String] = [:]
        for task in tasks {
            if let id = task["task_id"] as? String, let time = task["updated_at"] as? String { times[id] = time }
        }
        return times
    }

    /// The journal's delivery records of `task`, oldest first.
    func deliveries(of task: String) throws -> [DeliveryRecord] {
        try journal().compactMap { record in
            guard record.task?.rawValue == task, case .delivery(let delivery) = record.body else { return nil }
            return delivery
        }
    }

    /// The agent's JSON log lines whose message is `message`, oldest first.
    func logLines(_ child: ChildProcess, message: String) -> [[String: Any]] {
        child.log.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["message"] as? String == message
            else { return nil }
            return object
        }
    }

    /// Waits until each of `tasks` has had one accepted retry and the agent has nothing open.
    func waitRetried(_ tasks: [String], on agent: AgentProcess) async throws {
        try await eventually("\(tasks.count) tasks retried", timeout: .seconds(30)) {
            let calls = try await reconcileCalls()
            return tasks.allSatisfy { calls.retry.byTask[$0] == 1 }
        }
        try await waitSettled(agent)
    }
}

extension EndToEndTests {
    /// Reconciliation through the real binaries: failures whose callback HDP (the simulator) sent
    /// while the agent was down, or lost on purpose, are found in `GET /tasks` and retried exactly
    /// once — with a late webhook, across a `kill -9` in the middle of a sweep, and with the list
    /// calls bounded.
    @Suite("Reconcile")
    struct ReconcileTests {
        /// Fails `count` fresh tasks in the simulator; their callbacks go wherever it points them.
        static func failTasks(_ e2e: EndToEndHarness, _ count: Int) async throws -> [String] {
            let tasks = (0..<count).map { _ in randomTaskID() }
            try await e2e.addSimulatorTasks(tasks.map { TaskSpec(taskID: $0, error: "prover timeout") })
            return tasks
        }

        @Test("failures whose webhook was lost while the agent was down: each retried once, by the first sweep")
        func lostWhileDown() async throws {
            try await EndToEndHarness.run { e2e in
                let settings = AgentSettings(reconcile: "{interval: 1s, per_page: 2, max_pages: 3}")
                let first = try await e2e.startAgent(settings)
                let exit = try await e2e.stop(first)
                #expect(exit?.status == 0)
                // HDP sends each callback once, to an agent that is not there.
                try await e2e.setWebhooks(url: first.webhookURL)
                let tasks = try await Self.failTasks(e2e, 5)
                try await eventually("the callbacks to fail") {
                    let calls = try await e2e.reconcileCalls()
                    return calls.webhooks.failed == 5 && calls.webhooks.pending == 0
                }

                // What a sweep would pick up, changing nothing.
                let journalBefore = try e2e.journal().count
                let dryRun = try await e2e.tool(["reconcile", "--dry-run", "--config", e2e.directory + "/agent.yaml"])
                #expect(dryRun.status == 0, "\(dryRun.output)")
                #expect(dryRun.output.contains("5 tasks, 5 failed: 5 would be picked up"), "\(dryRun.output)")
                for task in tasks { #expect(dryRun.output.contains("\(task)  AtlanticProvingFailed")) }
                #expect(try e2e.journal().count == journalBefore)
                #expect(try await e2e.reconcileCalls().retry.total == 0)
                #expect(try await e2e.tool(["reconcile", "--config", e2e.directory + "/agent.yaml"]).status == 2)

                let agent = try await e2e.startAgent(settings)
                try await e2e.waitRetried(tasks, on: agent)
                let calls = try await e2e.reconcileCalls()
                #expect(calls.retry.duplicate == 0)
                for task in tasks {
                    #expect(calls.retry.callsByTask[task] == 1)
                    let deliveries = try e2e.deliveries(of: task)
                    #expect(deliveries.map(\.source) == [.reconcile])
                    #expect(deliveries.first?.decision == .retryScheduled)
                    #expect(deliveries.first?.deliveryID.description.hasPrefix("reconcile:\(task):") == true)
                    #expect(try await e2e.taskView(task, on: agent)?.state == "retried")
                }
                // All five in the sweep the agent made at start, within its first interval.
                let sweeps = e2e.logLines(agent.child, message: "reconciliation sweep")
                #expect(sweeps.first?["found"] as? String == "5")
                #expect(sweeps.first?["pages"] as? String == "3")
                let metrics = try await e2e.metrics(of: agent)
                #expect(metrics["hdp_retry_reconcile_found_total"] == 5)
                #expect((metrics[#"hdp_retry_reconcile_sweeps_total{result="ok"}"#] ?? 0) >= 1)
                #expect((metrics["hdp_retry_reconcile_last_success_timestamp_seconds"] ?? 0) > 0)
            }
        }

        @Test("a late webhook never doubles a failure a sweep found: coalesced while open, stale after the retry")
        func lateWebhook() async throws {
            try await EndToEndHarness.run { e2e in
                // Callbacks are lost (nothing listens on port 1); status checks take 2 s, so the
                // episode is open long enough for a webhook to arrive in the middle of it.
                try await e2e.setWebhooks(url: "http://127.0.0.1:1/webhooks/hdp")
                let tasks = try await Self.failTasks(e2e, 2)
                let (open, retried) = (tasks[0], tasks[1])
                let failedAt = try await e2e.simulatorUpdatedAt()
                try await e2e.setFaults(SimulatorFaults(latencyMilliseconds: 2000, endpoints: [.status]))
                let agent = try await e2e.startAgent(AgentSettings(reconcile: "{interval: 1s}"))
                func late(_ task: String) async throws -> DeliveryResult {
                    let time = try #require(failedAt[task])
                    let body =
                        #"{"task_id":"\#(task)","status":"AtlanticProvingFailed","error":"prover timeout","timestamp":"\#(time)"}"#
                    return await e2e.deliver(Array(body.utf8), id: "msg_late_\(task)", to: agent)
                }

                try await eventually("the status check of \(open) in flight") {
                    let retries = try await e2e.reconcileCalls().retry.total
                    let checks = try await e2e.simulatorCalls().status.byTask[open] ?? 0
                    return retries == 0 && checks == 1
                }
                let whileOpen = try await late(open)
                #expect(whileOpen.status == 202 && whileOpen.body?.decision == "coalesced")

                try await eventually("\(retried) retried") { try await e2e.reconcileCalls().retry.byTask[retried] == 1 }
                try await eventually("\(retried)'s retry journaled") {
                    try await e2e.taskView(retried, on: agent)?.state == "retried"
                }
                let afterRetry = try await late(retried)
                #expect(afterRetry.status == 202 && afterRetry.body?.decision == "ignored")

                try await e2e.setFaults(SimulatorFaults())
                try await e2e.waitRetried(tasks, on: agent)
                // A few more sweeps: HDP lists both tasks as Received now, and nothing more goes out.
                try await eventually("two more sweeps") {
                    let metrics = try await e2e.metrics(of: agent)
                    return (metrics[#"hdp_retry_reconcile_sweeps_total{result="ok"}"#] ?? 0) >= 4
                }
                let calls = try await e2e.reconcileCalls()
                #expect(calls.retry.duplicate == 0)
                for task in tasks { #expect(calls.retry.callsByTask[task] == 1) }
                #expect(try e2e.deliveries(of: open).map(\.decision) == [.retryScheduled, .coalesced])
                #expect(try e2e.deliveries(of: open).map(\.source) == [.reconcile, .webhook])
                let retriedDeliveries = try e2e.deliveries(of: retried)
                #expect(retriedDeliveries.map(\.reason) == [.rule, .stale])
                #expect(retriedDeliveries.map(\.source) == [.reconcile, .webhook])
            }
        }

        @Test("kill -9 in the middle of a sweep, restart: every task still retried exactly once")
        func killMidSweep() async throws {
            try await EndToEndHarness.run { e2e in
                try await e2e.setWebhooks(url: "http://127.0.0.1:1/webhooks/hdp")
                let tasks = try await Self.failTasks(e2e, 8)
                // Each page of the list takes 700 ms: a sweep of 5 pages is a wide window.
                try await e2e.setFaults(SimulatorFaults(latencyMilliseconds: 700, endpoints: [.list]))
                let settings = AgentSettings(reconcile: "{interval: 1s, per_page: 2, max_pages: 5}")
                let agent = try await e2e.startAgent(settings)
                try await eventually("a missed failure journaled by the first sweep") {
                    try e2e.journal().contains { record in
                        if case .delivery(let delivery) = record.body { return delivery.source == .reconcile }
                        return false
                    }
                }
                agent.child.send(SIGKILL)
                let exit = try await agent.child.waitForExit()
                #expect(exit?.signalled == true && exit?.status == SIGKILL)
                let before = try await e2e.reconcileCalls()
                let found = try e2e.journal().count { record in
                    if case .delivery(let delivery) = record.body { return delivery.source == .reconcile }
                    return false
                }
                try #require(before.list.total < 5 && found < 8, "the kill came after the sweep: nothing to test")

                let restarted = try await e2e.startAgent(settings)
                try await e2e.waitRetried(tasks, on: restarted)
                let calls = try await e2e.reconcileCalls()
                #expect(calls.retry.duplicate == 0)
                for task in tasks {
                    #expect(calls.retry.callsByTask[task] == 1)
                    #expect(try await e2e.taskView(task, on: restarted)?.attempts == 1)
                    // One delivery opened the task's one episode, whichever agent made it.
                    #expect(try e2e.deliveries(of: task).filter { $0.decision == .retryScheduled }.count == 1)
                }
            }
        }

        @Test("webhooks dropped while the agent runs are found by the next sweep; delivered ones are not doubled")
        func droppedWhileRunning() async throws {
            try await EndToEndHarness.run { e2e in
                let agent = try await e2e.startAgent(AgentSettings(reconcile: "{interval: 1s}"))
                try await e2e.setWebhooks(url: agent.webhookURL, drop: true)
                let dropped = try await Self.failTasks(e2e, 2)
                try await e2e.setWebhooks(url: agent.webhookURL, drop: false)
                let delivered = try await Self.failTasks(e2e, 1)
                try await e2e.waitRetried(dropped + delivered, on: agent)
                try await eventually("the callback answered") { try await e2e.reconcileCalls().webhooks.sent == 1 }

                let calls = try await e2e.reconcileCalls()
                #expect(calls.webhooks.dropped == 2 && calls.webhooks.sent == 1 && calls.webhooks.failed == 0)
                #expect(calls.retry.duplicate == 0)
                for task in dropped + delivered { #expect(calls.retry.callsByTask[task] == 1) }
                for task in dropped {
                    #expect(try e2e.deliveries(of: task).map(\.source) == [.reconcile])
                    let view = try await e2e.request(.GET, agent.adminURL + "/tasks/" + task)
                    let json = try JSONValue.parse(view.body)
                    #expect(json[path: "history.0.data.source"] == .string("reconcile"))
                }
                // The delivered one: its webhook and (had a sweep listed it first) the sweep's
                // delivery open one episode between them.
                let deliveries = try e2e.deliveries(of: delivered[0])
                #expect(deliveries.contains { $0.source == .webhook })
                #expect(deliveries.filter { $0.decision == .retryScheduled }.count == 1)
            }
        }

        @Test("list calls are bounded: at most max_pages a sweep, every call accounted for by a sweep")
        func listCallsAreBounded() async throws {
            try await EndToEndHarness.run { e2e in
                try await e2e.setWebhooks(url: "http://127.0.0.1:1/webhooks/hdp")
                // 7 failed tasks, 2 a page, 3 pages a sweep: 6 seen by the first sweep. The search
                // keeps the list to failed tasks, so the seventh comes up once the six are retried.
                let tasks = try await Self.failTasks(e2e, 7)
                let agent = try await e2e.startAgent(
                    AgentSettings(
                        logLevel: "debug", reconcile: "{interval: 1s, per_page: 2, max_pages: 3, search: Failed}"))
                try await e2e.waitRetried(tasks, on: agent)
                try await eventually("a sweep that finds nothing") {
                    e2e.logLines(agent.child, message: "reconciliation sweep").contains {
                        $0["found"] as? String == "0"
                    }
                }
                let exit = try await e2e.stop(agent)
                #expect(exit?.status == 0)

                let calls = try await e2e.reconcileCalls()
                #expect(calls.retry.duplicate == 0)
                for task in tasks { #expect(calls.retry.callsByTask[task] == 1) }
                #expect(Set(calls.list.byPage.keys).isSubset(of: ["1", "2", "3"]))
                let sweeps = ["reconciliation sweep", "reconciliation sweep skipped", "reconciliation sweep failed"]
                    .flatMap { e2e.logLines(agent.child, message: $0) }
                let pages = sweeps.compactMap { ($0["pages"] as? String).flatMap(Int.init) }
                #expect(pages.count == sweeps.count && !pages.isEmpty)
                #expect(pages.allSatisfy { $0 <= 3 })
                #expect(pages.reduce(0, +) == calls.list.total)
                #expect(sweeps.first?["found"] as? String == "6")
            }
        }
    }
}
