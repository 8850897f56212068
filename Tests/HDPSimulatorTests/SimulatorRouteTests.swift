import Foundation
import HDPSimulator
import HummingbirdTesting
import Testing

@Suite("Simulator HDP endpoints")
struct SimulatorRouteTests {
    @Test("an accepted retry answers 200 with HDP's body and resets the task to Received")
    func acceptedRetry() async throws {
        try await withSimulator { client, state in
            let response = try await client.retry(failedTask)
            #expect(response.status == .ok)
            #expect(
                response.text
                    == #"{"message":"Task has been queued for retry","status":"accepted","uuid":"\#(failedTask)"}"#)
            let status = try await client.status(failedTask).object()
            #expect(status["status"] as? String == "Received")
            #expect(status["errorMessage"] is NSNull)
            #expect(state.task(failedTask)?.status == "Received")
        }
    }

    @Test("a missing or wrong X-API-KEY is 401 and changes nothing", arguments: [nil, "wrong-key", ""])
    func unauthorized(key: String?) async throws {
        try await withSimulator { client, state in
            let response = try await client.retry(failedTask, key: key)
            #expect(response.status == .unauthorized)
            #expect(response.text == #"{"error":"Missing Herodotus Cloud X-API-KEY header"}"#)
            #expect(state.task(failedTask)?.status == "AtlanticProvingFailed")
            #expect(state.calls.retry.unauthorized == 1)
            #expect(state.calls.retry.accepted == 0)
        }
    }

    @Test("retrying an unknown task is 404 with its uuid")
    func retryUnknown() async throws {
        try await withSimulator { client, _ in
            let response = try await client.retry(unknownTask)
            #expect(response.status == .notFound)
            #expect(response.text == #"{"error":"Task not found","uuid":"\#(unknownTask)"}"#)
        }
    }

    @Test("a decommitment failure with missing results is 400 Cannot retry decommitment")
    func cannotRetryDecommitment() async throws {
        try await withSimulator { client, state in
            let response = try await client.retry(missingResultsTask)
            #expect(response.status == .badRequest)
            let body = try response.object()
            #expect(body["error"] as? String == "Cannot retry decommitment")
            let details = try #require(body["details"] as? String)
            #expect(details.contains("results are missing"))
            #expect(state.task(missingResultsTask)?.status == "TaskDecommitmentFailed")
            #expect(state.calls.retry.rejected == 1)
        }
    }

    @Test(
        "a retry records which re-run it queued",
        arguments: [
            (decommitTask, "TaskDecommitmentFailed", "decommitment"), (failedTask, "AtlanticProvingFailed", "full"),
        ])
    func retryKind(task: String, failedStatus: String, kind: String) async throws {
        try await withSimulator { client, _ in
            #expect(try await client.retry(task).status == .ok)
            let rows = try await client.transitions(task)
            #expect(rows.count == 2)
            let reset = try #require(rows.last)
            #expect(reset["from_status"] as? String == failedStatus)
            #expect(reset["to_status"] as? String == "Received")
            #expect(reset["retry_kind"] as? String == kind)
            #expect(reset["task_id"] as? String == task)
        }
    }

    @Test("status reports taskId, status, errorMessage and updatedAt")
    func status() async throws {
        try await withSimulator { client, _ in
            let response = try await client.status(failedTask)
            #expect(response.status == .ok)
            #expect(
                response.text
                    == #"{"errorMessage":"prover timeout","status":"AtlanticProvingFailed","taskId":"\#(failedTask)","#
                    + #""updatedAt":"2025-03-18T10:00:00.000Z"}"#)
        }
    }

    @Test("status and state_transitions of an unknown task are 404 with its taskId")
    func statusUnknown() async throws {
        try await withSimulator { client, state in
            for path in ["status", "state_transitions"] {
                let response = try await client.execute(uri: "/tasks/\(unknownTask)/\(path)", method: .get)
                #expect(response.status == .notFound)
                #expect(response.text == #"{"error":"Task not found","taskId":"\#(unknownTask)"}"#)
            }
            #expect(state.calls.status.notFound == 1)
            #expect(state.calls.stateTransitions.notFound == 1)
        }
    }

    @Test("state_transitions are listed oldest first with HDP's field names")
    func transitionsOrder() async throws {
        try await withSimulator { client, _ in
            _ = try await client.retry(failedTask)
            let rows = try await client.transitions(failedTask)
            #expect(rows.map { $0["to_status"] as? String } == ["AtlanticProvingFailed", "Received"])
            #expect(rows.first?["from_status"] is NSNull)
            let ids = rows.compactMap { $0["id"] as? Int }
            #expect(ids == ids.sorted() && ids.count == 2)
            #expect(rows.allSatisfy { $0["created_at"] as? String == "2025-03-18T10:00:00.000Z" })
        }
    }

    @Test("a second retry of the same failure is accepted but counted as a duplicate")
    func duplicateRetry() async throws {
        try await withSimulator { client, state in
            #expect(try await client.retry(failedTask).status == .ok)
            #expect(try await client.retry(failedTask).status == .ok)
            let calls = state.calls.retry
            #expect(calls.accepted == 2)
            #expect(calls.duplicate == 1)
            #expect(calls.byTask[failedTask] == 2)
            let rows = try await client.transitions(failedTask)
            #expect(rows.last?["from_status"] as? String == "Received")
            #expect(rows.last?["retry_kind"] as? String == "full")
        }
    }

    @Test("task ids are matched without regard to case")
    func caseInsensitive() async throws {
        try await withSimulator { client, _ in
            let response = try await client.status(failedTask.lowercased())
            #expect(response.status == .ok)
        }
    }

    @Test("GET /_sim/calls counts every endpoint, per task")
    func callCounts() async throws {
        try await withSimulator { client, _ in
            _ = try await client.retry(failedTask)
            _ = try await client.retry(failedTask)
            _ = try await client.retry(unknownTask)
            _ = try await client.retry(failedTask, key: nil)
            _ = try await client.status(failedTask)
            _ = try await client.transitions(decommitTask)
            let calls = try await client.control("calls", .get).object()
            let retry = try #require(calls["retry"] as? [String: Any])
            #expect(retry["total"] as? Int == 4)
            #expect(retry["accepted"] as? Int == 2)
            #expect(retry["duplicate"] as? Int == 1)
            #expect(retry["not_found"] as? Int == 1)
            #expect(retry["unauthorized"] as? Int == 1)
            #expect(retry["by_task"] as? [String: Int] == [failedTask: 2])
            #expect(retry["calls_by_task"] as? [String: Int] == [failedTask: 3, unknownTask: 1])
            let status = try #require(calls["status"] as? [String: Any])
            #expect(status["total"] as? Int == 1)
            #expect(status["by_task"] as? [String: Int] == [failedTask: 1])
            let transitions = try #require(calls["state_transitions"] as? [String: Any])
            #expect(transitions["total"] as? Int == 1)
        }
    }
}
