import AsyncHTTPClient
import Foundation
import HDPSimulator
import NIOCore
import NIOHTTP1
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

/// The end-to-end suites: the real `hdp-retry-agent` and `hdp-sim` binaries as child processes on
/// loopback. One parent suite, serialized, so that no two scenarios share the machine's two cores
/// (their nested suites inherit `.serialized`).
@Suite("EndToEnd", .serialized)
struct EndToEndTests {}

/// A failure of the harness itself (a binary missing, a process that never came up, a wait that
/// ran out), with the words a person needs to act on it.
struct EndToEndError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every `every` until it holds; throws once `timeout` has passed. The only way
/// these tests wait: bounded, and never a bare sleep standing in for "long enough".
func eventually(
    _ what: String, timeout: Duration = .seconds(20), every: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else {
            throw EndToEndError("timed out after \(timeout) waiting for \(what)")
        }
        try await Task.sleep(for: every)
    }
}

/// A fresh random ULID (upper case, as the agent stores it), so no two scenarios share a task.
func randomTaskID() -> String {
    let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    return "0" + String((0..<25).map { _ in alphabet.randomElement()! })
}

/// `GET /_sim/calls`: what reached HDP. `retry.byTask` counts accepted retries per task (each
/// one re-runs a paid prover), `retry.callsByTask` every retry call whatever its answer, and
/// `retry.duplicate` accepted retries of a task that was not failed (money thrown away).
struct SimulatorCalls: Decodable, Sendable {
    /// Counts of `POST /tasks/{id}/retry`.
    struct Retry: Decodable, Sendable {
        var total: Int
        var accepted: Int
        var duplicate: Int
        var unauthorized: Int
        var notFound: Int
        var rejected: Int
        var byTask: [String: Int]
        var callsByTask: [String: Int]
        enum CodingKeys: String, CodingKey {
            case total, accepted, duplicate, unauthorized, rejected
            case notFound = "not_found"
            case byTask = "by_task"
            case callsByTask = "calls_by_task"
        }
    }
    /// Counts of `GET /tasks/{id}/status`.
    struct Status: Decodable, Sendable {
        var total: Int
        var notFound: Int
        var byTask: [String: Int]
        enum CodingKeys: String, CodingKey {
            case total
            case notFound = "not_found"
            case byTask = "by_task"
        }
    }
    var retry: Retry
    var status: Status
}

/// The agent's answer to a webhook delivery; `status` is 0 when no HTTP answer came at all (the
/// agent is dead or no longer listening).
struct DeliveryResult: Sendable {
    /// The fields of the answer the tests look at.
    struct Body: Decodable, Sendable {
        var decision: String?
        var duplicate: Bool?
    }
    var status: Int
    var body: Body?
    /// A 2xx: the sender would consider the delivery done, so the journal must hold it.
    var isAcknowledged: Bool { (200..<300).contains(status) }
}

/// `GET /tasks/{id}` on the admin listener, and `journal inspect --task` (the same view).
struct TaskView: Decodable, Sendable {
    var state: String
    var attempts: Int
}

/// The settings a scenario varies; everything else is the harness's fixed, fast configuration.
struct AgentSettings: Sendable {
    /// `HDP_API_KEY`; `nil` starts the agent without one (dry-run).
    var apiKey: String? = EndToEndHarness.apiKey
    var confirmStatus = true
    var maxInFlight = 4
    var consecutiveFailures = 5
    var openFor = "300ms"
    var maxOpenFor = "1s"
    var logLevel = "info"
    /// `journal.compact_above_bytes`: small values make the agent compact while under test.
    var compactAboveBytes = 67_108_864
    /// `hdp.base_url`; `nil` is the harness's simulator.
    var hdpURL: String?
    /// Sends the agent's standard error here (a path: a file or a FIFO) instead of its log file.
    var standardError: String?
    /// `reconcile`, a YAML flow mapping: off (no periodic sweep) unless a scenario turns it on, so
    /// that the webhook scenarios see only their own deliveries.
    var reconcile = "{interval: 0}"
    /// Names the agent's configuration file (`NAME.yaml`) and log, so several agents can run.
    var name = "agent"
    /// `HDP_RETRY_DATABASE_URL`: set, the agent runs on the PostgreSQL store.
    var databaseURL: String?
    /// `hdp.timeout`.
    var hdpTimeout = "10s"
    /// `store.postgres.lease` (at least 3 × `hdp.timeout`).
    var lease = "30s"
}

/// A running agent and where its two listeners are (both bind port 0; the log says which).
struct AgentProcess: Sendable {
    let child: ChildProcess
    let webhookURL: String
    let adminURL: String
}

/// One scenario's world: a temp directory (rules, config, journal, logs), a running `hdp-sim`,
/// the agents started so far, an HTTP client and a signer. ``run(_:)`` tears it all down, even
/// when the scenario throws.
final class EndToEndHarness: Sendable {
    /// The key the simulator accepts, and the agents' default `HDP_API_KEY`.
    static let apiKey = "e2e-hdp-key"
    /// Fast rules: every failure is retried (3 attempts, 100 ms doubling to 1 s, no jitter),
    /// except a decommitment whose results are missing.
    static let rules = """
        version: 1
        defaults:
          max_attempts: 3
          backoff: {initial: 100ms, factor: 2, max: 1s, jitter: none}
        rules:
          - name: decommitment-results-missing
            match:
              status: TaskDecommitmentFailed
              error: {regex: "(?i)results (are )?missing"}
            action: give_up
          - name: transient
            match: {}
            action: retry
        default: {action: give_up}
        """

    /// The scenario's folder: rules, configuration, journal and every child's log.
    let directory: String
    let http: HTTPClient
    let agentBinary: URL
    /// `http://127.0.0.1:PORT` of the simulator.
    let simulatorURL: String
    /// Signs deliveries with ``secret``, which the agents get as `WEBHOOK_SECRETS`.
    let signer: WebhookSigner
    let secret: String
    let children: ChildRegistry
    var journalPath: String { directory + "/journal.jsonl" }

    private init(
        directory: String, http: HTTPClient, agentBinary: URL, simulatorURL: String, children: ChildRegistry,
        secret: String
    ) throws {
        self.directory = directory
        self.http = http
        self.agentBinary = agentBinary
        self.simulatorURL = simulatorURL
        self.children = children
        self.secret = secret
        signer = try WebhookSigner(settings: SignatureSettings(scheme: .standardWebhooks, secrets: [secret]))
    }

    /// Starts the simulator, runs `body`, then kills every child and removes the directory (kept
    /// when `HDP_E2E_KEEP` is set, for a post-mortem). When `body` throws, the tail of every
    /// child's log goes to standard error first.
    static func run(_ body: (EndToEndHarness) async throws -> Void) async throws {
        let (agent, simulatorBinary) = try EndToEndBinaries.locate()
        let directory = NSTemporaryDirectory() + "hdp-e2e-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try rules.write(toFile: directory + "/rules.yaml", atomically: true, encoding: .utf8)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        // A dead agent must show as a failed delivery at once, not after connection retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let children = ChildRegistry()
        // The simulator signs the failure callbacks it sends (once a scenario gives it a URL) with
        // the agents' secret, as a relay in front of HDP would.
        let secret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        do {
            let simulator = try children.start(
                simulatorBinary, ["--listen", "127.0.0.1:0", "--api-key", apiKey, "--webhook-secret", secret],
                environment: cleanEnvironment(), directory: directory, log: "sim")
            let port = try await listeningPort(of: simulator, marker: "address=http://127.0.0.1:")
            try await body(
                EndToEndHarness(
                    directory: directory, http: http, agentBinary: agent, simulatorURL: "http://127.0.0.1:\(port)",
                    children: children, secret: secret))
        } catch {
            for child in children.all {
                FileHandle.standardError.write(Data("--- \(child.logPath) (tail)\n\(child.log.suffix(3000))\n".utf8))
            }
            await tearDown(children, http: http, directory: directory)
            throw error
        }
        await tearDown(children, http: http, directory: directory)
    }

    private static func tearDown(_ children: ChildRegistry, http: HTTPClient, directory: String) async {
        for child in children.all { await child.killAndReap() }
        try? await http.shutdown()
        if ProcessInfo.processInfo.environment["HDP_E2E_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// PATH and HOME only: no `HDP_*` or `WEBHOOK_*` from the developer's shell leaks in.
    private static func cleanEnvironment() -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        return ["PATH": inherited["PATH"] ?? "/usr/bin:/bin", "HOME": inherited["HOME"] ?? "/tmp"]
    }

    /// Waits for `marker` followed by a port number in the child's log.
    private static func listeningPort(of child: ChildProcess, marker: String) async throws -> Int {
        var port: Int?
        try await eventually("\(child.logPath) to say \(marker)") {
            guard child.isRunning else { throw EndToEndError("exited before listening:\n\(child.log.suffix(3000))") }
            guard let range = child.log.range(of: marker) else { return false }
            port = Int(child.log[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        return port!
    }

    // MARK: The agent

    /// Writes the configuration and starts an agent; returns once `/readyz` answers 200.
    func startAgent(_ settings: AgentSettings = AgentSettings()) async throws -> AgentProcess {
        let child = try spawnAgent(settings)
        var ports: [String: Int] = [:]
        try await eventually("both listeners of \(child.logPath)") {
            guard child.isRunning else { throw EndToEndError("the agent exited:\n\(child.log.suffix(3000))") }
            for line in child.log.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let message = object["message"] as? String, message.hasSuffix("listener up"),
                    let address = object["address"] as? String, let colon = address.lastIndex(of: ":"),
                    let port = Int(address[address.index(after: colon)...])
                else { continue }
                ports[message] = port
            }
            return ports.count == 2
        }
        let agent = AgentProcess(
            child: child, webhookURL: "http://127.0.0.1:\(ports["webhook listener up"]!)/webhooks/hdp",
            adminURL: "http://127.0.0.1:\(ports["admin listener up"]!)")
        try await eventually("\(agent.adminURL)/readyz") {
            (try? await request(.GET, agent.adminURL + "/readyz").status) == 200
        }
        return agent
    }

    /// Writes the configuration and starts an agent process without waiting for it.
    func spawnAgent(_ settings: AgentSettings = AgentSettings()) throws -> ChildProcess {
        let configuration = """
            listen: 127.0.0.1:0
            admin_listen: 127.0.0.1:0
            hdp: {base_url: "\(settings.hdpURL ?? simulatorURL)", timeout: \(settings.hdpTimeout), confirm_status: \(settings.confirmStatus)}
            rules: {path: "\(directory)/rules.yaml", watch: false}
            journal: {path: "\(journalPath)", fsync: always, compact_above_bytes: \(settings.compactAboveBytes)}
            dispatch: {max_in_flight: \(settings.maxInFlight), rate_per_second: 500, burst: 100}
            circuit_breaker:
              window: 20
              min_calls: 5
              failure_rate: 0.5
              consecutive_failures: \(settings.consecutiveFailures)
              open_for: \(settings.openFor)
              max_open_for: \(settings.maxOpenFor)
              half_open_probes: 1
            log: {format: json, level: \(settings.logLevel)}
            reconcile: \(settings.reconcile)
            store: {backend: \(settings.databaseURL == nil ? "file" : "postgres"), postgres: {pool_size: 4, lease: \(settings.lease)}}
            """
        let configurationPath = directory + "/\(settings.name).yaml"
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)
        var environment = Self.cleanEnvironment()
        environment["WEBHOOK_SECRETS"] = secret
        if let url = settings.databaseURL { environment["HDP_RETRY_DATABASE_URL"] = url }
        if let key = settings.apiKey { environment["HDP_API_KEY"] = key }
        if let standardError = settings.standardError {
            // `exec`: the registered child is the agent itself, with its standard error redirected.
            return try children.start(
                URL(fileURLWithPath: "/bin/sh"),
                [
                    "-c", #"exec "$0" serve --config "$1" 2>"$2""#, agentBinary.path, configurationPath,
                    standardError,
                ],
                environment: environment, directory: directory, log: settings.name)
        }
        return try children.start(
            agentBinary, ["serve", "--config", configurationPath], environment: environment,
            directory: directory, log: settings.name)
    }

    /// SIGTERM, then the exit status (`nil` when it did not exit within 20 s).
    func stop(_ agent: AgentProcess) async throws -> (status: Int32, signalled: Bool)? {
        agent.child.send(SIGTERM)
        return try await agent.child.waitForExit()
    }

    /// A failure notice in HDP's callback shape.
    func notice(
        task: String, status: String = "AtlanticProvingFailed", error: String = "prover timeout",
        timestamp: Date? = Date(timeIntervalSinceNow: -60)
    ) -> [UInt8] {
        var fields = [#""task_id":"\#(task)""#, #""status":"\#(status)""#, #""error":"\#(error)""#]
        if let timestamp { fields.append(#""timestamp":"\#(ISO8601.format(timestamp))""#) }
        return Array("{\(fields.joined(separator: ","))}".utf8)
    }

    /// Signs `body` as delivery `deliveryID` and posts it; any transport failure is status 0.
    func deliver(_ body: [UInt8], id deliveryID: String, to agent: AgentProcess) async -> DeliveryResult {
        let signed = signer.sign(body: body, now: Date(), deliveryID: deliveryID)
        let headers = [("Content-Type", "application/json")] + signed.headers.map { ($0.name, $0.value) }
        guard let answer = try? await request(.POST, agent.webhookURL, body: body, headers: headers) else {
            return DeliveryResult(status: 0, body: nil)
        }
        return DeliveryResult(
            status: answer.status, body: try? JSONDecoder().decode(DeliveryResult.Body.self, from: Data(answer.body)))
    }

    /// `GET /tasks/{id}` on the admin listener; `nil` for 404.
    func taskView(_ task: String, on agent: AgentProcess) async throws -> TaskView? {
        let answer = try await request(.GET, agent.adminURL + "/tasks/" + task)
        if answer.status == 404 { return nil }
        return try JSONDecoder().decode(TaskView.self, from: Data(answer.body))
    }

    /// `GET /metrics`, as series (`name{labels}`) → value.
    func metrics(of agent: AgentProcess) async throws -> [String: Double] {
        let text = String(decoding: try await request(.GET, agent.adminURL + "/metrics").body, as: UTF8.self)
        var series: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            series[String(line[..<space])] = value
        }
        return series
    }

    /// Waits until the agent has no open episode and no HDP call in flight: from then on it sends
    /// nothing more unless a new delivery arrives, so call counts read afterwards are final.
    func waitSettled(_ agent: AgentProcess) async throws {
        try await eventually("no open episode and no call in flight") {
            let series = try await metrics(of: agent)
            return series["hdp_retry_pending_retries"] == 0 && series["hdp_retry_in_flight"] == 0
        }
    }

    // MARK: The simulator, the journal, the CLI

    /// `POST /_sim/tasks`: creates (or resets) tasks in the simulator.
    func addSimulatorTasks(_ specs: [TaskSpec]) async throws {
        let answer = try await request(
            .POST, simulatorURL + "/_sim/tasks", body: Array(try JSONEncoder().encode(specs)))
        try #require(answer.status == 200)
    }

    /// `PUT /_sim/faults`: replaces the whole fault set.
    func setFaults(_ faults: SimulatorFaults) async throws {
        let answer = try await request(
            .PUT, simulatorURL + "/_sim/faults", body: Array(try JSONEncoder().encode(faults)))
        try #require(answer.status == 200)
    }

    /// `GET /_sim/calls`.
    func simulatorCalls() async throws -> SimulatorCalls {
        try JSONDecoder().decode(
            SimulatorCalls.self, from: Data(try await request(.GET, simulatorURL + "/_sim/calls").body))
    }

    /// The journal's records as they are on disk now. Readable while an agent runs: the lock is
    /// not taken, and a half-written last line is left out as a torn tail.
    func journal() throws -> [JournalRecord] {
        let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: journalPath))) ?? Data())
        var records: [JournalRecord] = []
        _ = JournalReader.scan(bytes) { records.append($0) }
        return records
    }

    /// Runs `hdp-retry-agent ARGUMENTS` to completion (with `environment` added to the clean one):
    /// its exit status and output.
    func tool(
        _ arguments: [String], environment: [String: String] = [:]
    ) async throws -> (
        status: Int32, output: String
    ) {
        let child = try children.start(
            agentBinary, arguments, environment: Self.cleanEnvironment().merging(environment) { $1 },
            directory: directory, log: "tool")
        guard let exit = try await child.waitForExit() else { throw EndToEndError("\(arguments) did not finish") }
        return (exit.status, child.log)
    }

    /// One HTTP exchange with a whole-body answer.
    func request(
        _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []
    ) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 4 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView))
    }
}
