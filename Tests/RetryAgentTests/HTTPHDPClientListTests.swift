import AsyncHTTPClient
import Foundation
import HDPSimulator
import Logging
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore

/// `GET /tasks` over loopback against the simulator: the query, every list shape it serves read
/// back by ``TaskListReader``, and failures mapped as for the other endpoints.
@Suite("HTTP HDP client: the task list")
struct HTTPHDPClientListTests {
    static let start = Date(timeIntervalSince1970: 1_742_292_000)
    static let tasks = [
        TaskSpec(taskID: "01JPJ03YJT1A93D6NF56G4GVEQ", status: "AtlanticProvingFailed", error: "prover timeout"),
        TaskSpec(taskID: "01JPJ03YJT1A93D6NF56G4GVER", status: "Received"),
        TaskSpec(taskID: "01JPJ03YJT1A93D6NF56G4GVES", status: "TraceGenFailed", error: "rpc & co = 1"),
    ]

    func withSimulator(_ body: (RunningSimulator, HTTPHDPClient) async throws -> Void) async throws {
        var logger = Logger(label: "hdp-sim-test")
        logger.logLevel = .critical
        let configuration = SimulatorConfiguration(apiKey: "k", tasks: Self.tasks, clock: { Self.start })
        try await HDPSimulator.withRunning(configuration: configuration, logger: logger) { sim in
            let client = try HTTPHDPClient(
                baseURL: sim.baseURL, apiKey: "k", timeout: .seconds(5), httpClient: .shared, logger: logger)
            try await body(sim, client)
        }
    }

    func read(_ outcome: HDPListOutcome) throws -> ListedPage {
        guard case .page(let body) = outcome else { throw HarnessError(description: "not a page: \(outcome)") }
        return try TaskListReader.read(body)
    }

    @Test("pages of the list, in every shape the simulator serves, read back whole")
    func pagesInEveryShape() async throws {
        try await withSimulator { sim, client in
            for container in SimulatorListShape.Container.allCases {
                for (idKey, errorKey, updatedKey) in [
                    ("id", "errorMessage", "updatedAt"), ("uuid", "error", "updated_at"),
                    ("task_id", "error", "updatedAt"),
                    ("taskId", "errorMessage", "updated_at"),
                ] {
                    try sim.state.setListShape(
                        SimulatorListShape(
                            container: container, idKey: idKey, errorKey: errorKey, updatedKey: updatedKey))
                    let first = try read(await client.listTasks(page: 1, perPage: 2, search: nil))
                    let second = try read(await client.listTasks(page: 2, perPage: 2, search: nil))
                    #expect(first.itemCount == 2 && second.itemCount == 1, "\(container) \(idKey)")
                    let all = first.tasks + second.tasks
                    #expect(Set(all.map(\.taskID.rawValue)) == Set(Self.tasks.map(\.taskID)))
                    #expect(all.allSatisfy { $0.updatedAt == Self.start })
                    #expect(all.first { $0.status == "TraceGenFailed" }?.error == "rpc & co = 1")
                }
            }
            #expect(sim.state.calls.list.byPage == ["1": 16, "2": 16])
        }
    }

    @Test("the search reaches HDP intact, whatever its characters")
    func searchIsEncoded() async throws {
        #expect(
            HTTPHDPClient.listQuery(page: 3, perPage: 100, search: "a&b=c+d #é/")
                == "hdp_tasks_page=3&hdp_tasks_per_page=100&hdp_tasks_search=a%26b%3Dc%2Bd%20%23%C3%A9%2F")
        #expect(HTTPHDPClient.listQuery(page: 1, perPage: 5, search: nil) == "hdp_tasks_page=1&hdp_tasks_per_page=5")
        try await withSimulator { _, client in
            let amp = try read(await client.listTasks(page: 1, perPage: 100, search: "rpc & co = 1"))
            #expect(amp.tasks.map(\.taskID.rawValue) == ["01JPJ03YJT1A93D6NF56G4GVES"])
            let failed = try read(await client.listTasks(page: 1, perPage: 100, search: "failed"))
            #expect(failed.itemCount == 2)
        }
    }

    @Test("a refused or faulted list call maps onto its outcome")
    func failures() async throws {
        try await withSimulator { sim, client in
            guard case .failure(.rejected(let details)) = await client.listTasks(page: 1, perPage: 101, search: nil)
            else {
                Issue.record("a page of 101 was not refused")
                return
            }
            #expect(details.contains("hdp_tasks_per_page"))
            try sim.state.setFaults(SimulatorFaults(outage: true, endpoints: [.list]))
            #expect(
                await client.listTasks(page: 1, perPage: 10, search: nil) == .failure(.serverError(httpStatus: 503)))
        }
    }
}
