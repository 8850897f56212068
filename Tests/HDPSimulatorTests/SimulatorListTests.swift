import Foundation
import HDPSimulator
import HTTPTypes
import HummingbirdTesting
import Testing

/// Five tasks updated one second apart (the last two in the same second, so the tie is broken by
/// id), created in an order that differs from both time and id order.
private let pagedTasks: [(id: String, status: String, error: String?, second: Int)] = [
    ("01JPJ03YJT1A93D6NF56G4GVE1", "AtlanticProvingFailed", "prover timeout", 0),
    ("01JPJ03YJT1A93D6NF56G4GVE5", "TaskDecommitmentCompleted", nil, 1),
    ("01JPJ03YJT1A93D6NF56G4GVE3", "TraceGenFailed", "Out of memory", 2),
    ("01JPJ03YJT1A93D6NF56G4GVE4", "DryRunFailed", "bad program hash", 3),
    ("01JPJ03YJT1A93D6NF56G4GVE2", "Received", nil, 3),
]

/// The ids of `pagedTasks`, newest first with ties by id.
private let newestFirst = [
    "01JPJ03YJT1A93D6NF56G4GVE2", "01JPJ03YJT1A93D6NF56G4GVE4", "01JPJ03YJT1A93D6NF56G4GVE3",
    "01JPJ03YJT1A93D6NF56G4GVE5", "01JPJ03YJT1A93D6NF56G4GVE1",
]

/// Runs `body` against a simulator holding `pagedTasks`, created through the control API with
/// simulator time moved between them.
private func withPagedTasks(
    faults: SimulatorFaults = .none, _ body: @Sendable (any TestClientProtocol, SimulatorState) async throws -> Void
) async throws {
    try await withSimulator(faults: faults, tasks: []) { client, state in
        var second = 0
        for task in pagedTasks {
            if task.second > second {
                _ = try await client.control("advance", .post, json: #"{"ms":\#((task.second - second) * 1000)}"#)
                second = task.second
            }
            let error = task.error.map { #","error":"\#($0)""# } ?? ""
            let created = try await client.control(
                "tasks", .post, json: #"{"task_id":"\#(task.id)","status":"\#(task.status)"\#(error)}"#)
            #expect(created.status == .ok)
        }
        try await body(client, state)
    }
}

extension TestClientProtocol {
    /// `GET /tasks` with `query` (without the `?`).
    func list(_ query: String = "") async throws -> TestResponse {
        try await execute(uri: query.isEmpty ? "/tasks" : "/tasks?\(query)", method: .get)
    }

    /// The items of a `GET /tasks` answer in the standard shape.
    func listItems(_ query: String = "") async throws -> [[String: Any]] {
        let response = try await list(query)
        #expect(response.status == .ok)
        return try #require(try response.object()["tasks"] as? [[String: Any]])
    }
}

@Suite("Simulator task list")
struct SimulatorListTests {
    @Test("GET /tasks lists newest updatedAt first, ties by id, with the paging members")
    func order() async throws {
        try await withPagedTasks { client, _ in
            let response = try await client.list()
            #expect(response.status == .ok)
            let body = try response.object()
            #expect(body["page"] as? Int == 1)
            #expect(body["per_page"] as? Int == 20)
            #expect(body["total"] as? Int == 5)
            let items = try #require(body["tasks"] as? [[String: Any]])
            #expect(items.compactMap { $0["id"] as? String } == newestFirst)
            let first = try #require(items.first)
            #expect(Set(first.keys) == ["id", "status", "errorMessage", "updatedAt"])
            #expect(first["errorMessage"] is NSNull)
            #expect(first["updatedAt"] as? String == "2025-03-18T10:00:03.000Z")
            let failed = try #require(items.first { $0["id"] as? String == "01JPJ03YJT1A93D6NF56G4GVE3" })
            #expect(failed["status"] as? String == "TraceGenFailed")
            #expect(failed["errorMessage"] as? String == "Out of memory")
        }
    }

    @Test("page 2 of 3 holds the third and fourth newest; a page past the end is empty")
    func paging() async throws {
        try await withPagedTasks { client, state in
            let page2 = try await client.list("hdp_tasks_page=2&hdp_tasks_per_page=2").object()
            #expect(page2["page"] as? Int == 2)
            #expect(page2["per_page"] as? Int == 2)
            #expect(page2["total"] as? Int == 5)
            let ids = (page2["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == Array(newestFirst[2...3]))
            let page3 = try await client.listItems("hdp_tasks_page=3&hdp_tasks_per_page=2")
            #expect(page3.compactMap { $0["id"] as? String } == [newestFirst[4]])
            let page4 = try await client.list("hdp_tasks_page=4&hdp_tasks_per_page=2").object()
            #expect((page4["tasks"] as? [Any])?.isEmpty == true)
            #expect(page4["total"] as? Int == 5)
            #expect(state.calls.list.total == 3)
            #expect(state.calls.list.byPage == ["2": 1, "3": 1, "4": 1])
        }
    }

    @Test("hdp_tasks_per_page defaults to 20 and may be 100")
    func pageSize() async throws {
        let tasks = (0..<120).map { TaskSpec(taskID: String(format: "01JPJ03YJT1A93D6NF56G4G%03d", $0)) }
        try await withSimulator(tasks: tasks) { client, _ in
            let byDefault = try await client.listItems()
            let most = try await client.listItems("hdp_tasks_per_page=100")
            let rest = try await client.listItems("hdp_tasks_page=2&hdp_tasks_per_page=100")
            let counts: [Int] = [byDefault.count, most.count, rest.count]
            #expect(counts == [20, 100, 20])
        }
    }

    @Test(
        "a page or page size out of range or not a number is 400, counted as rejected",
        arguments: [
            "hdp_tasks_per_page=101", "hdp_tasks_per_page=0", "hdp_tasks_page=0", "hdp_tasks_page=-1",
            "hdp_tasks_page=two", "hdp_tasks_per_page=1e2",
        ])
    func badQuery(query: String) async throws {
        try await withSimulator { client, state in
            let response = try await client.list(query)
            #expect(response.status == .badRequest)
            let message = try #require(try response.object()["error"] as? String)
            #expect(message.hasPrefix(String(query.prefix { $0 != "=" })))
            #expect(state.calls.list.total == 1)
            #expect(state.calls.list.rejected == 1)
            #expect(state.calls.list.byPage.isEmpty)
        }
    }

    @Test(
        "hdp_tasks_search keeps tasks whose id, status or error contains the text, ignoring case",
        arguments: [
            ("gve3", ["01JPJ03YJT1A93D6NF56G4GVE3"]),
            ("failed", ["01JPJ03YJT1A93D6NF56G4GVE4", "01JPJ03YJT1A93D6NF56G4GVE3", "01JPJ03YJT1A93D6NF56G4GVE1"]),
            ("OUT OF", ["01JPJ03YJT1A93D6NF56G4GVE3"]),
            ("prover%20timeout", ["01JPJ03YJT1A93D6NF56G4GVE1"]),
            ("nothing like it", []),
            ("", newestFirst),
        ])
    func search(text: String, expected: [String]) async throws {
        try await withPagedTasks { client, _ in
            let body = try await client.list("hdp_tasks_search=\(text)").object()
            let ids = (body["tasks"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == expected)
            #expect(body["total"] as? Int == expected.count)
        }
    }

    @Test("the search looks at the error HDP reports, which a task that is not failed has none of")
    func searchIgnoresStaleError() async throws {
        let tasks = [TaskSpec(taskID: failedTask, status: "TaskDecommitmentCompleted", error: "prover timeout")]
        try await withSimulator(tasks: tasks) { client, _ in
            let items = try await client.listItems("hdp_tasks_search=timeout")
            #expect(items.isEmpty)
        }
    }

    @Test("the list shows tasks as they are now: a retried task is Received and its error is gone")
    func listSettles() async throws {
        try await withSimulator { client, _ in
            _ = try await client.retry(failedTask)
            let item = try #require(
                try await client.listItems().first { $0["id"] as? String == failedTask })
            #expect(item["status"] as? String == "Received")
            #expect(item["errorMessage"] is NSNull)
        }
    }

    @Test(
        "PUT /_sim/list_shape serves the list in each shape the agent reads",
        arguments: [
            (#"{"container":"data"}"#, "data", "id", "errorMessage", "updatedAt"),
            (#"{"container":"items","id_key":"uuid"}"#, "items", "uuid", "errorMessage", "updatedAt"),
            (
                #"{"id_key":"task_id","error_key":"error","updated_key":"updated_at"}"#, "tasks", "task_id", "error",
                "updated_at"
            ),
            (#"{"container":"array","id_key":"taskId"}"#, nil, "taskId", "errorMessage", "updatedAt"),
        ])
    func shapes(json: String, container: String?, idKey: String, errorKey: String, updatedKey: String) async throws {
        try await withPagedTasks { client, state in
            let put = try await client.control("list_shape", .put, json: json)
            #expect(put.status == .ok)
            let response = try await client.list("hdp_tasks_per_page=2")
            #expect(response.status == .ok)
            let root = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
            let items: [[String: Any]]
            if let container {
                let object = try #require(root as? [String: Any])
                #expect(Set(object.keys) == [container, "page", "per_page", "total"])
                items = try #require(object[container] as? [[String: Any]])
            } else {
                items = try #require(root as? [[String: Any]])
            }
            #expect(items.count == 2)
            let item = try #require(items.last)
            #expect(Set(item.keys) == [idKey, "status", errorKey, updatedKey])
            #expect(item[idKey] as? String == newestFirst[1])
            #expect(item[errorKey] as? String == "bad program hash")
            #expect(item[updatedKey] as? String == "2025-03-18T10:00:03.000Z")
            #expect(try await client.control("list_shape", .get).object()["id_key"] as? String == idKey)
            try state.reset()
            #expect(state.listShape == .standard)
        }
    }

    @Test(
        "a list shape that cannot be served is 400 and changes nothing",
        arguments: [
            #"{"container":"rows"}"#, #"{"id_key":""}"#, #"{"id_key":"status"}"#,
            #"{"error_key":"uuid","id_key":"uuid"}"#, #"not json"#,
        ])
    func badShape(json: String) async throws {
        try await withSimulator { client, state in
            let response = try await client.control("list_shape", .put, json: json)
            #expect(response.status == .badRequest)
            #expect(try response.object()["error"] is String)
            #expect(state.listShape == .standard)
        }
    }
}

@Suite("Simulator task list faults")
struct SimulatorListFaultTests {
    @Test("faults leave the list alone unless it is among their endpoints, as before the list existed")
    func untargeted() async throws {
        let faults = SimulatorFaults(errorRate: 1, rateLimit: RateLimitFault(count: 1), outage: true)
        try await withSimulator(faults: faults) { client, state in
            #expect(try await client.list().status == .ok)
            #expect(try await client.status(failedTask).status == .serviceUnavailable)
            #expect(state.calls.list.faulted == 0)
            #expect(state.faults.rateLimit?.count == 1)
            let shown = try await client.control("faults", .get).object()
            #expect(shown["endpoints"] as? [String] == ["retry", "status", "state_transitions"])
        }
    }

    @Test("a rate limit on the list alone is not spent by retries, nor a retry's by list calls")
    func rateLimitTargeted() async throws {
        try await withSimulator { client, state in
            let put = try await client.control(
                "faults", .put, json: #"{"rate_limit":{"count":2,"retry_after":3},"endpoints":["list"]}"#)
            #expect(put.status == .ok)
            #expect(try await client.retry(failedTask).status == .ok)
            for _ in 0..<2 {
                let response = try await client.list()
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "3")
            }
            #expect(try await client.list().status == .ok)
            #expect(state.calls.list.faulted == 2)
            #expect(state.calls.retry.faulted == 0)
        }
    }

    @Test(
        "an outage or error rate aimed at the list answers it with the fault, with the other endpoints",
        arguments: [
            (#"{"outage":true,"endpoints":["list","status"]}"#, 503),
            (#"{"outage_ms":60000,"endpoints":["list"]}"#, 503),
            (#"{"error_rate":1,"error_status":502,"endpoints":["list"]}"#, 502),
        ])
    func faultTargeted(json: String, status: Int) async throws {
        try await withSimulator { client, state in
            #expect(try await client.control("faults", .put, json: json).status == .ok)
            let response = try await client.list("hdp_tasks_page=2")
            #expect(response.status.code == status)
            #expect(try response.object()["error"] is String)
            #expect(try await client.retry(failedTask).status == .ok)
            #expect(state.calls.list.faulted == 1)
            #expect(state.calls.list.byPage == ["2": 1])
        }
    }

    @Test("a faulted list call is answered with the fault even when its query is bad")
    func faultBeforeQuery() async throws {
        try await withSimulator(faults: SimulatorFaults(outage: true, endpoints: [.list])) { client, state in
            let response = try await client.list("hdp_tasks_per_page=500")
            #expect(response.status == .serviceUnavailable)
            #expect(state.calls.list.rejected == 0)
            #expect(state.calls.list.faulted == 1)
        }
    }

    @Test("latency applies to the list when it is targeted, and not otherwise")
    func latency() throws {
        var model = try SimulatorModel(
            apiKey: simKey, seed: 1, faults: SimulatorFaults(latencyMilliseconds: 250), tasks: [], now: simStart)
        #expect(model.admitList(page: 1, now: simStart).latency == .zero)
        try model.setFaults(SimulatorFaults(latencyMilliseconds: 250, endpoints: [.list]), now: simStart)
        #expect(model.admitList(page: 1, now: simStart).latency == .milliseconds(250))
        #expect(model.admit(.retry, taskID: failedTask, now: simStart).latency == .zero)
    }

    @Test("list calls the faults do not target draw nothing from the seeded generator")
    func seedUndisturbed() throws {
        func run(listing: Bool) throws -> [Bool] {
            var model = try SimulatorModel(
                apiKey: simKey, seed: 42, faults: SimulatorFaults(errorRate: 0.5), tasks: [], now: simStart)
            return (0..<200).map { _ in
                if listing { _ = model.admitList(page: 1, now: simStart) }
                return model.admit(.status, taskID: failedTask, now: simStart).fault != nil
            }
        }
        #expect(try run(listing: true) == run(listing: false))
    }

    @Test("an unknown endpoint in a fault set is 400")
    func unknownEndpoint() async throws {
        try await withSimulator { client, state in
            let response = try await client.control("faults", .put, json: #"{"outage":true,"endpoints":["tasks"]}"#)
            #expect(response.status == .badRequest)
            #expect(state.faults == .none)
        }
    }
}
