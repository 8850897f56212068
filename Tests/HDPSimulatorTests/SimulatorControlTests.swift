import Foundation
import HDPSimulator
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("Simulator control API and workflow progression")
struct SimulatorControlTests {
    @Test("POST /_sim/tasks creates one task or many, and replaces an existing one")
    func createTasks() async throws {
        try await withSimulator(tasks: []) { client, state in
            let one = try await client.control(
                "tasks", .post, json: #"{"task_id":"\#(failedTask)","status":"TraceGenFailed","error":"oom"}"#)
            #expect(one.status == .ok)
            let many = try await client.control(
                "tasks", .post,
                json: #"[{"task_id":"\#(failedTask)","status":"DryRunFailed"},{"task_id":"\#(decommitTask)"}]"#)
            #expect(many.status == .ok)
            #expect(state.task(failedTask)?.status == "DryRunFailed")
            #expect(state.task(failedTask)?.transitions.count == 1)
            #expect(state.task(decommitTask)?.status == "AtlanticProvingFailed")
            let listed = try await client.control("tasks", .get)
            #expect(listed.text.contains(decommitTask))
        }
    }

    @Test(
        "bad control input is 400 and changes nothing",
        arguments: [
            ("tasks", #"{"task_id":"X","status":"Exploded"}"#),
            ("tasks", #"[{"task_id":"A"},{"task_id":"B","fail_again":-1}]"#),
            ("tasks", #"{"status":"DryRunFailed"}"#),
            ("faults", #"{"error_rate":2}"#),
            ("faults", #"{"error_status":200}"#),
            ("faults", #"not json"#),
        ])
    func badInput(path: String, json: String) async throws {
        try await withSimulator(tasks: []) { client, state in
            let method: HTTPRequest.Method = path == "faults" ? .put : .post
            let response = try await client.control(path, method, json: json)
            #expect(response.status == .badRequest)
            #expect(try response.object()["error"] is String)
            #expect(state.allTasks().isEmpty)
            #expect(state.faults == .none)
        }
    }

    @Test("POST /_sim/reset restores the configured tasks, zero counts and no faults")
    func reset() async throws {
        try await withSimulator { client, state in
            _ = try await client.retry(failedTask)
            _ = try await client.control("tasks", .post, json: #"{"task_id":"\#(unknownTask)"}"#)
            _ = try await client.control("faults", .put, json: #"{"outage":true}"#)
            #expect(try await client.control("reset", .post).status == .ok)
            #expect(state.task(failedTask)?.status == "AtlanticProvingFailed")
            #expect(state.task(unknownTask) == nil)
            #expect(state.calls == SimulatorCallCounts())
            #expect(try await client.status(failedTask).status == .ok)
        }
    }

    @Test("without progression a retried task stays at Received however much time passes")
    func staysReceived() async throws {
        try await withSimulator { client, state in
            _ = try await client.retry(failedTask)
            _ = try await client.control("advance", .post, json: #"{"ms":86400000}"#)
            #expect(state.task(failedTask)?.status == "Received")
        }
    }

    @Test("a re-run fails again fail_again times, then completes, when its delay has passed")
    func failAgainThenComplete() async throws {
        let faults = SimulatorFaults(progressAfterMilliseconds: 1000)
        let tasks = [
            TaskSpec(taskID: failedTask, status: "AtlanticProvingFailed", error: "prover timeout", failAgain: 1)
        ]
        try await withSimulator(faults: faults, tasks: tasks) { client, state in
            _ = try await client.retry(failedTask)
            _ = try await client.control("advance", .post, json: #"{"ms":999}"#)
            #expect(try await client.status(failedTask).object()["status"] as? String == "Received")
            _ = try await client.control("advance", .post, json: #"{"ms":1}"#)
            let failed = try await client.status(failedTask).object()
            #expect(failed["status"] as? String == "AtlanticProvingFailed")
            #expect(failed["errorMessage"] as? String == "prover timeout")
            #expect(state.task(failedTask)?.failAgain == 0)

            _ = try await client.retry(failedTask)
            _ = try await client.control("advance", .post)
            #expect(try await client.status(failedTask).object()["status"] as? String == "TaskDecommitmentCompleted")
            let path = try await client.transitions(failedTask).compactMap { $0["to_status"] as? String }
            #expect(
                path == [
                    "AtlanticProvingFailed", "Received", "AtlanticProvingStarted", "AtlanticProvingFailed", "Received",
                    "TaskDecommitmentStarted", "TaskDecommitmentCompleted",
                ])
            #expect(state.calls.retry.duplicate == 0)
        }
    }

    @Test("the fault settings' fail_again applies to tasks that do not set their own")
    func failAgainDefault() async throws {
        try await withSimulator(faults: SimulatorFaults(failAgain: 2, progressAfterMilliseconds: 0)) { client, state in
            for _ in 0..<2 {
                _ = try await client.retry(decommitTask)
                #expect(try await client.status(decommitTask).object()["status"] as? String == "TaskDecommitmentFailed")
            }
            _ = try await client.retry(decommitTask)
            #expect(state.task(decommitTask)?.status == "TaskDecommitmentCompleted")
            let kinds = state.task(decommitTask)?.transitions.compactMap(\.retryKind)
            #expect(kinds == [.decommitment, .decommitment, .decommitment])
        }
    }

    @Test("retrying a completed task is accepted, counted as a duplicate, and re-runs it")
    func retryCompleted() async throws {
        let tasks = [TaskSpec(taskID: failedTask, status: "TaskDecommitmentCompleted")]
        try await withSimulator(tasks: tasks) { client, state in
            let response = try await client.retry(failedTask)
            #expect(response.status == .ok)
            #expect(state.calls.retry.duplicate == 1)
            #expect(state.task(failedTask)?.status == "Received")
        }
    }
}
