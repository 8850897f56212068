import Foundation
import HDPSimulator
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// 2025-03-18T10:00:00Z: the fixed "now" of the route tests.
let simStart = Date(timeIntervalSince1970: 1_742_292_000)
let simKey = "test-key"
let failedTask = "01JPJ03YJT1A93D6NF56G4GVEQ"
let decommitTask = "01JPJ03YJT1A93D6NF56G4GVER"
let missingResultsTask = "01JPJ03YJT1A93D6NF56G4GVES"
let unknownTask = "01JPJ03YJT1A93D6NF56G4GVEZ"

/// The tasks most tests start from.
let standardTasks = [
    TaskSpec(taskID: failedTask, status: "AtlanticProvingFailed", error: "prover timeout"),
    TaskSpec(taskID: decommitTask, status: "TaskDecommitmentFailed", error: "decommitment reverted"),
    TaskSpec(
        taskID: missingResultsTask, status: "TaskDecommitmentFailed", error: "results are missing",
        resultsMissing: true),
]

/// Runs `body` against the simulator's router (no network), with a fixed clock.
func withSimulator(
    faults: SimulatorFaults = .none, tasks: [TaskSpec] = standardTasks, seed: UInt64 = 1,
    _ body: @Sendable (any TestClientProtocol, SimulatorState) async throws -> Void
) async throws {
    let configuration = SimulatorConfiguration(
        apiKey: simKey, seed: seed, tasks: tasks, faults: faults, clock: { simStart })
    let state = try SimulatorState(configuration: configuration)
    var logger = Logger(label: "hdp-sim-test")
    logger.logLevel = .critical
    let app = Application(router: buildSimulatorRouter(state: state), logger: logger)
    try await app.test(.router) { client in try await body(client, state) }
}

extension TestResponse {
    /// The body as text.
    var text: String { String(decoding: body.readableBytesView, as: UTF8.self) }

    /// The body as a JSON object.
    func object() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
    }
}

extension TestClientProtocol {
    /// `POST /tasks/{id}/retry` with `key` as `X-API-KEY` (none when `nil`).
    func retry(_ task: String, key: String? = simKey) async throws -> TestResponse {
        var headers = HTTPFields()
        if let key { headers[HTTPField.Name("X-API-KEY")!] = key }
        return try await execute(uri: "/tasks/\(task)/retry", method: .post, headers: headers)
    }

    /// `GET /tasks/{id}/status`.
    func status(_ task: String) async throws -> TestResponse {
        try await execute(uri: "/tasks/\(task)/status", method: .get)
    }

    /// `GET /tasks/{id}/state_transitions`, as the list of rows.
    func transitions(_ task: String) async throws -> [[String: Any]] {
        let response = try await execute(uri: "/tasks/\(task)/state_transitions", method: .get)
        #expect(response.status == .ok)
        return try #require(try response.object()["state_transitions"] as? [[String: Any]])
    }

    /// A control call with a JSON body.
    func control(_ path: String, _ method: HTTPRequest.Method, json: String? = nil) async throws -> TestResponse {
        try await execute(
            uri: "/_sim/\(path)", method: method, headers: [.contentType: "application/json"],
            body: json.map { ByteBuffer(string: $0) })
    }
}
