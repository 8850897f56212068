import Foundation
import HDPSimulator
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

extension EndToEndTests {
    /// Dispatch through the real binaries: what reaches HDP (the simulator's call counts) for a
    /// failure, a duplicate storm, permanent answers, a wrong API key and an outage.
    @Suite("Dispatch")
    struct DispatchTests {
        @Test("a transient failure is retried exactly once, after a status check")
        func transientFailureIsRetriedOnce() async throws {
            try await EndToEndHarness.run { e2e in
                let task = randomTaskID()
                try await e2e.addSimulatorTasks([TaskSpec(taskID: task, error: "prover timeout")])
                let agent = try await e2e.startAgent()

                let answer = await e2e.deliver(e2e.notice(task: task), id: "msg_\(task)", to: agent)
                #expect(answer.status == 202)
                #expect(answer.body?.decision == "retry_scheduled")
                try await eventually("\(task) retried") { try await e2e.taskView(task, on: agent)?.state == "retried" }
                try await e2e.waitSettled(agent)

                let calls = try await e2e.simulatorCalls()
                #expect(calls.retry.total == 1)
                #expect(calls.retry.byTask[task] == 1)
                #expect(calls.retry.duplicate == 0)
                #expect(calls.status.byTask[task] == 1)
                #expect(try await e2e.taskView(task, on: agent)?.attempts == 1)
                let types = try e2e.journal().filter { $0.task?.rawValue == task }.map(\.body.typeName)
                #expect(types == ["delivery", "attempt_started", "attempt_finished"])
            }
        }

        @Test("a duplicate storm (one delivery 100 times, 100 deliveries of one task) makes one retry call")
        func duplicateStormMakesOneCall() async throws {
            try await EndToEndHarness.run { e2e in
                let task = randomTaskID()
                try await e2e.addSimulatorTasks([TaskSpec(taskID: task, error: "prover timeout")])
                let agent = try await e2e.startAgent()
                let body = e2e.notice(task: task)
                let sameID = "msg_same_\(task)"

                let results = await withTaskGroup(of: (same: Bool, result: DeliveryResult).self) { group in
                    for index in 0..<100 {
                        group.addTask { (true, await e2e.deliver(body, id: sameID, to: agent)) }
                        group.addTask { (false, await e2e.deliver(body, id: "msg_\(index)_\(task)", to: agent)) }
                    }
                    var all: [(same: Bool, result: DeliveryResult)] = []
                    for await result in group { all.append(result) }
                    return all
                }
                let same = results.filter(\.same).map(\.result)
                let different = results.filter { !$0.same }.map(\.result)
                #expect(same.count { $0.status == 202 } == 1)
                #expect(same.count { $0.status == 200 && $0.body?.duplicate == true } == 99)
                #expect(different.allSatisfy { $0.status == 202 })
                // Duplicates repeat the original's decision; among the new deliveries, one opened
                // the episode and the others coalesced into it (or came after the retry, stale).
                #expect(results.count { $0.result.status == 202 && $0.result.body?.decision == "retry_scheduled" } == 1)

                try await eventually("\(task) retried") { try await e2e.taskView(task, on: agent)?.state == "retried" }
                try await e2e.waitSettled(agent)
                let calls = try await e2e.simulatorCalls()
                #expect(calls.retry.total == 1)
                #expect(calls.retry.duplicate == 0)
                #expect(calls.retry.byTask[task] == 1)

                let again = await e2e.deliver(body, id: sameID, to: agent)
                #expect(again.status == 200 && again.body?.duplicate == true)
            }
        }

        /// 404 and 400 are permanent: one answer ends the episode. With `confirm_status` the 404
        /// comes from the status check (no retry call at all); without it, from the retry call.
        @Test("404 and 400 end the episode without a second call", arguments: [true, false])
        func permanentAnswersEndTheEpisode(confirmStatus: Bool) async throws {
            try await EndToEndHarness.run { e2e in
                let unknown = randomTaskID()
                let missing = randomTaskID()
                let error = "decommitment failed: rpc error"
                try await e2e.addSimulatorTasks([
                    TaskSpec(taskID: missing, status: "TaskDecommitmentFailed", error: error, resultsMissing: true)
                ])
                let agent = try await e2e.startAgent(AgentSettings(confirmStatus: confirmStatus))

                let first = await e2e.deliver(e2e.notice(task: unknown), id: "msg_\(unknown)", to: agent)
                let second = await e2e.deliver(
                    e2e.notice(task: missing, status: "TaskDecommitmentFailed", error: error), id: "msg_\(missing)",
                    to: agent)
                #expect(first.body?.decision == "retry_scheduled")
                #expect(second.body?.decision == "retry_scheduled")
                try await eventually("both episodes ended") {
                    let first = try await e2e.taskView(unknown, on: agent)?.state
                    let second = try await e2e.taskView(missing, on: agent)?.state
                    return first == "not_found" && second == "rejected"
                }
                try await e2e.waitSettled(agent)

                let calls = try await e2e.simulatorCalls()
                #expect(calls.retry.callsByTask[unknown] == (confirmStatus ? nil : 1))
                #expect(calls.retry.callsByTask[missing] == 1)
                #expect(calls.retry.notFound == (confirmStatus ? 0 : 1))
                #expect(calls.retry.rejected == 1)
                #expect(calls.retry.accepted == 0)
                #expect(calls.status.notFound == (confirmStatus ? 1 : 0))
                #expect(try await e2e.taskView(missing, on: agent)?.attempts == 0)
            }
        }

        @Test("a wrong API key keeps tasks pending; with the right key each is retried exactly once")
        func wrongKeyKeepsTasksPending() async throws {
            try await EndToEndHarness.run { e2e in
                let tasks = (0..<3).map { _ in randomTaskID() }
                try await e2e.addSimulatorTasks(tasks.map { TaskSpec(taskID: $0, error: "prover timeout") })
                let wrong = try await e2e.startAgent(AgentSettings(apiKey: "not-the-key"))
                for task in tasks {
                    let answer = await e2e.deliver(e2e.notice(task: task), id: "msg_\(task)", to: wrong)
                    #expect(answer.body?.decision == "retry_scheduled")
                }
                try await eventually("each task refused twice and pending") {
                    let calls = try await e2e.simulatorCalls()
                    for task in tasks {
                        guard (calls.retry.callsByTask[task] ?? 0) >= 2,
                            try await e2e.taskView(task, on: wrong)?.state == "pending"
                        else { return false }
                    }
                    return true
                }
                let refused = try await e2e.simulatorCalls()
                #expect(refused.retry.accepted == 0)
                #expect(refused.retry.unauthorized == refused.retry.total)
                let exit = try await e2e.stop(wrong)
                #expect(exit?.status == 0 && exit?.signalled == false)

                for task in tasks {
                    let inspect = try await e2e.tool([
                        "journal", "inspect", "--journal", e2e.journalPath, "--task", task,
                    ])
                    #expect(inspect.status == 0)
                    let view = try JSONDecoder().decode(TaskView.self, from: Data(inspect.output.utf8))
                    #expect(view.state == "pending" && view.attempts == 0)
                }

                let right = try await e2e.startAgent()
                try await eventually("every task retried") {
                    for task in tasks where try await e2e.taskView(task, on: right)?.state != "retried" { return false }
                    return true
                }
                try await e2e.waitSettled(right)
                let calls = try await e2e.simulatorCalls()
                #expect(calls.retry.accepted == 3)
                #expect(calls.retry.duplicate == 0)
                #expect(tasks.allSatisfy { calls.retry.byTask[$0] == 1 })
            }
        }

        @Test("an outage opens the breaker, bounds the calls, and every pending retry goes out once after it")
        func outageOpensTheBreaker() async throws {
            try await EndToEndHarness.run { e2e in
                let settings = AgentSettings(maxInFlight: 2, consecutiveFailures: 3, openFor: "300ms", maxOpenFor: "1s")
                let tasks = (0..<10).map { _ in randomTaskID() }
                try await e2e.addSimulatorTasks(tasks.map { TaskSpec(taskID: $0, error: "prover timeout") })
                try await e2e.setFaults(SimulatorFaults(outage: true))
                let agent = try await e2e.startAgent(settings)
                for task in tasks {
                    let answer = await e2e.deliver(e2e.notice(task: task), id: "msg_\(task)", to: agent)
                    #expect(answer.body?.decision == "retry_scheduled")
                }

                try await eventually("the breaker open") {
                    try await e2e.metrics(of: agent)["hdp_retry_circuit_state"] == 1
                }
                // Let it fail two half-open probes: three trips in all.
                try await eventually("three trips") {
                    try await e2e.metrics(of: agent)[#"hdp_retry_circuit_transitions_total{to="open"}"#] ?? 0 >= 3
                }
                let during = try await e2e.simulatorCalls()
                let probes = try await e2e.metrics(of: agent)[#"hdp_retry_circuit_transitions_total{to="half_open"}"#]
                let callsDuringOutage = during.status.total + during.retry.total
                // Before the first trip: `consecutive_failures` failures plus what was already in
                // flight (max_in_flight − 1); after it, one probe per half-open.
                let bound = settings.consecutiveFailures + settings.maxInFlight - 1 + Int(probes ?? 0)
                #expect(during.retry.total == 0)
                #expect(callsDuringOutage >= settings.consecutiveFailures)
                #expect(callsDuringOutage <= bound)

                try await e2e.setFaults(.none)
                try await eventually("every task retried") {
                    for task in tasks where try await e2e.taskView(task, on: agent)?.state != "retried" { return false }
                    return true
                }
                try await e2e.waitSettled(agent)
                let calls = try await e2e.simulatorCalls()
                #expect(calls.retry.total == tasks.count)
                #expect(calls.retry.accepted == tasks.count)
                #expect(calls.retry.duplicate == 0)
                #expect(tasks.allSatisfy { calls.retry.byTask[$0] == 1 })
                #expect(try await e2e.metrics(of: agent)["hdp_retry_circuit_state"] == 0)
            }
        }
    }
}
