import Foundation
import Logging
import PostgresNIO
import RetryPostgres

/// The scale-out rows of `ingest --postgres URL` (SPEC §8): durable ingest and retries per second
/// of one agent on the file journal, one agent on PostgreSQL, and three agents on one PostgreSQL
/// database, in one run, under the same load.
///
/// - Ingest: unique signed deliveries under wrk, split evenly over the agents (one wrk per agent,
///   all at once); dry run, dispatch held to one call a second, as in the ingest rows.
/// - Retries: `tasks` failed tasks registered in `hdp-sim`, one delivery each (split over the
///   agents), first retry due 3 s after its delivery; from the first due time until the simulator
///   has accepted a retry of every task. Each retry is a status check, `attempt_started`
///   committed, the retry call, `attempt_finished` committed.
struct ScaleOutBenchmark {
    /// `hdp-retry-agent`.
    var agent: String
    /// `hdp-sim`.
    var simulator: String
    /// A database URL whose user may create databases (each configuration gets a new one).
    var postgres: String
    var seconds: Int
    var connections: Int
    var deliveries: Int
    var tasks: Int
    var directory: String
    var wrk: String

    /// One configuration's figures.
    struct Figures {
        var title: String
        var ingest: Double = 0
        var ingestNote = ""
        var ingestFlagged = false
        var retries: Double = 0
        var retriesNote = ""
        var retriesFlagged = false
    }

    /// Measures the three configurations; returns their figures (file journal first).
    func run(factory: inout DeliveryFactory) throws -> [Figures] {
        let base = try PostgresURL.parse(postgres).get()
        var all: [Figures] = []
        for (title, agents, database) in [
            ("file journal, 1 agent", 1, false), ("PostgreSQL, 1 agent", 1, true), ("PostgreSQL, 3 agents", 3, true),
        ] {
            let name = "hdp_retry_bench_\(getpid())_\(agents)_\(database ? "pg" : "file")"
            // A fresh database for each row: the ingest row leaves its tasks pending, and the
            // retry row must not find them (they would be dispatched too, with status checks of
            // tasks the simulator does not have).
            func fresh(_ row: String) throws -> String? {
                guard database else { return nil }
                try Self.admin(base, "DROP DATABASE IF EXISTS \(name)_\(row) WITH (FORCE)")
                try Self.admin(base, "CREATE DATABASE \(name)_\(row)")
                var components = URLComponents(string: postgres)!
                components.path = "/\(name)_\(row)"
                return components.string
            }
            func drop(_ row: String) {
                if database { try? Self.admin(base, "DROP DATABASE IF EXISTS \(name)_\(row) WITH (FORCE)") }
            }
            defer {
                drop("ingest")
                drop("retries")
            }
            var figures = Figures(title: title)
            try measureIngest(&figures, agents: agents, databaseURL: try fresh("ingest"), tag: name, factory: &factory)
            drop("ingest")
            try measureRetries(
                &figures, agents: agents, databaseURL: try fresh("retries"), tag: name, factory: &factory)
            all.append(figures)
        }
        return all
    }

    // MARK: Ingest

    private func measureIngest(
        _ figures: inout Figures, agents count: Int, databaseURL: String?, tag: String, factory: inout DeliveryFactory
    ) throws {
        let agents = try (0..<count).map { index in
            try ScaleAgent(
                binary: agent, directory: directory + "/\(tag)-ingest-\(index)", secret: factory.agentSecret,
                databaseURL: databaseURL, simulator: nil)
        }
        defer { for agent in agents { agent.stop() } }
        for agent in agents { try agent.waitUntilReady(timeout: 60) }
        let made = factory.make(deliveries)
        let timestamp = Int(Date().timeIntervalSince1970)
        let perAgent = max(1, connections / count)
        var runs: [(WrkRun, String, String, pid_t)] = []
        for (index, agent) in agents.enumerated() {
            let slice = stride(from: index, to: made.count, by: count).map { made[$0] }
            let prefix = directory + "/\(tag)-ingest-\(index)-requests"
            let requests = slice.map {
                factory.agentRequest($0, port: agent.port, path: "/webhooks/hdp", timestamp: timestamp)
            }
            _ = try RequestFiles.write(requests, slices: 1, prefix: prefix)
            let run = WrkRun(wrk: wrk, threads: 1, connections: perAgent, duration: seconds, directory: directory)
            runs.append((run, prefix, "http://127.0.0.1:\(agent.port)/webhooks/hdp", agent.process.pid))
        }
        let cpuBefore = Self.cpu(agents: agents)
        let started = Monotonic.now
        let results = ResultBox<WrkRun.Summary>(count: runs.count)
        let prepared = runs
        DispatchQueue.concurrentPerform(iterations: prepared.count) { index in
            let (run, prefix, url, pid) = prepared[index]
            results.set(
                index, Result { try run.run(name: "\(tag)-ingest-\(index)", url: url, prefix: prefix, server: pid) })
        }
        let wall = Monotonic.now - started
        let cpuAfter = Self.cpu(agents: agents)
        var total = 0.0
        var non2xx = 0
        var socketErrors = 0
        var p99 = 0.0
        for result in results.values {
            let summary = try result.get()
            total += summary.rate
            non2xx += summary.non2xx3xx
            socketErrors += summary.socketErrors
            p99 = max(p99, summary.latency.p99)
        }
        figures.ingest = total
        figures.ingestFlagged = non2xx > 0 || socketErrors > 0
        figures.ingestNote = String(
            format: "p99 %.1f ms (worst agent); CPUs over the run: agents %.2f, postgres %.2f, all %.2f",
            p99 * 1000, (cpuAfter.agents - cpuBefore.agents) / wall, (cpuAfter.postgres - cpuBefore.postgres) / wall,
            (cpuAfter.machine - cpuBefore.machine) / wall)
        if non2xx > 0 || socketErrors > 0 {
            figures.ingestNote += "; ⚠ \(non2xx) non-2xx, \(socketErrors) socket errors"
        }
    }

    // MARK: Retries

    private func measureRetries(
        _ figures: inout Figures, agents count: Int, databaseURL: String?, tag: String, factory: inout DeliveryFactory
    ) throws {
        let simulatorPort = try LoopbackConnection.freePort()
        let simulatorDirectory = directory + "/\(tag)-sim"
        try FileManager.default.createDirectory(atPath: simulatorDirectory, withIntermediateDirectories: true)
        let sim = try ChildProcess(
            name: "hdp-sim", executable: simulator,
            arguments: ["--listen", "127.0.0.1:\(simulatorPort)", "--api-key", Self.apiKey],
            environment: ["PATH": "/usr/bin:/bin"], directory: simulatorDirectory,
            outputPath: simulatorDirectory + "/sim.log")
        defer { _ = sim.stop(grace: 5) }
        try Self.waitForHTTP(port: simulatorPort, path: "/_sim/calls", timeout: 30)
        let made = factory.make(tasks)
        let taskIDs = made.map { delivery -> String in
            let text = String(decoding: delivery.body, as: UTF8.self)
            let start = text.range(of: #""task_id":""#)!.upperBound
            return String(text[start...].prefix(26))
        }
        for chunk in stride(from: 0, to: taskIDs.count, by: 1000) {
            let specs = taskIDs[chunk..<min(chunk + 1000, taskIDs.count)].map { #"{"task_id":"\#($0)"}"# }
            let body = Array("[\(specs.joined(separator: ","))]".utf8)
            let answer = try LoopbackConnection(port: simulatorPort, timeout: 10).exchange(
                DeliveryFactory.post(path: "/_sim/tasks", port: simulatorPort, headers: [], body: body))
            guard answer.status == 200 else { throw BenchmarkError("hdp-sim refused the tasks: \(answer.status)") }
        }
        let rules = directory + "/\(tag)-rules.yaml"
        try Data(Self.rules.utf8).write(to: URL(fileURLWithPath: rules))
        let agents = try (0..<count).map { index in
            try ScaleAgent(
                binary: agent, directory: directory + "/\(tag)-retries-\(index)", secret: factory.agentSecret,
                databaseURL: databaseURL, simulator: (simulatorPort, rules))
        }
        defer { for agent in agents { agent.stop() } }
        for agent in agents { try agent.waitUntilReady(timeout: 60) }

        let timestamp = Int(Date().timeIntervalSince1970)
        let loads = agents.enumerated().map { index, agent in
            (
                agent.port,
                stride(from: index, to: made.count, by: count).map {
                    factory.agentRequest(made[$0], port: agent.port, path: "/webhooks/hdp", timestamp: timestamp)
                }
            )
        }
        let cpuBefore = Self.cpu(agents: agents)
        let sendStart = Monotonic.now
        let results = ResultBox<LoadResult>(count: count)
        let perAgent = max(1, connections / count)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let (port, requests) = loads[index]
            results.set(
                index,
                .success(
                    LoadDriver.asFastAsPossible(port: port, requests: requests, connections: perAgent, timeout: 120)))
        }
        let sent = Monotonic.now - sendStart
        var refused = 0
        for result in results.values { refused += (try? result.get())?.unexpected(expected: 202) ?? 0 }
        // The first retry is due 3 s after the first delivery.
        let firstDue = sendStart + 3
        var calls = SimCalls()
        let deadline = Monotonic.now + 600
        while Monotonic.now < deadline {
            calls = try Self.simulatorCalls(port: simulatorPort)
            if calls.accepted >= tasks { break }
            usleep(50_000)
        }
        let done = Monotonic.now
        let cpuAfter = Self.cpu(agents: agents)
        let wall = done - sendStart
        figures.retries = Double(calls.accepted) / max(done - firstDue, 1e-9)
        figures.retriesFlagged = calls.accepted != tasks || calls.duplicate > 0 || refused > 0
        figures.retriesNote = String(
            format: "%d tasks: %d accepted retries (%d duplicate), %d retry calls, %d status checks; "
                + "deliveries sent in %.1f s; CPUs from the first delivery to the last retry: agents %.2f, "
                + "postgres %.2f, all %.2f",
            tasks, calls.accepted, calls.duplicate, calls.retryCalls, calls.statusChecks, sent,
            (cpuAfter.agents - cpuBefore.agents) / wall, (cpuAfter.postgres - cpuBefore.postgres) / wall,
            (cpuAfter.machine - cpuBefore.machine) / wall)
        if refused > 0 { figures.retriesNote += "; ⚠ \(refused) deliveries not answered 202" }
    }

    static let apiKey = "bench-hdp-key"

    /// Every failure is retried, first 3 s after its notice, no jitter.
    static let rules = """
        version: 1
        defaults:
          max_attempts: 3
          backoff: {initial: 3s, factor: 2, max: 30s, jitter: none}
        rules:
          - name: transient
            match: {}
            action: retry
        default: {action: give_up}
        """

    /// What `GET /_sim/calls` says about retries.
    struct SimCalls {
        var accepted = 0
        var duplicate = 0
        var retryCalls = 0
        var statusChecks = 0
    }

    static func simulatorCalls(port: Int) throws -> SimCalls {
        let answer = try LoopbackConnection(port: port, timeout: 10).exchange(
            DeliveryFactory.get(path: "/_sim/calls", port: port), keepBody: true)
        guard let object = try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any],
            let retry = object["retry"] as? [String: Any], let status = object["status"] as? [String: Any]
        else { throw BenchmarkError("hdp-sim's /_sim/calls does not read") }
        func number(_ dictionary: [String: Any], _ key: String) -> Int { (dictionary[key] as? NSNumber)?.intValue ?? 0 }
        return SimCalls(
            accepted: number(retry, "accepted"), duplicate: number(retry, "duplicate"),
            retryCalls: number(retry, "total"),
            statusChecks: number(status, "total"))
    }

    static func waitForHTTP(port: Int, path: String, timeout: Double) throws {
        let deadline = Monotonic.now + timeout
        while Monotonic.now < deadline {
            if let answer = try? LoopbackConnection(port: port, timeout: 1).exchange(
                DeliveryFactory.get(path: path, port: port)), answer.status == 200
            {
                return
            }
            usleep(50_000)
        }
        throw BenchmarkError("nothing answered on port \(port) within \(Int(timeout)) s")
    }

    // MARK: CPU

    /// CPU seconds so far: the agents, every `postgres` process, the whole machine.
    static func cpu(agents: [ScaleAgent]) -> (agents: Double, postgres: Double, machine: Double) {
        let agentSeconds = agents.reduce(0.0) { $0 + ProcessStatistics.cpuSeconds(pid: $1.process.pid) }
        var postgres = 0.0
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                comm.hasPrefix("postgres"),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // Fields after the name: state is 0; utime is 11, stime 12.
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                postgres += (user + system) / ticks
            }
        }
        return (agentSeconds, postgres, ProcessStatistics.machineBusySeconds)
    }

    // MARK: Databases

    /// Runs one statement on `url`'s database.
    static func admin(_ url: PostgresURL, _ statement: String) throws {
        let semaphore = DispatchSemaphore(value: 0)
        let outcome = ResultBox<Void>(count: 1)
        // A bridge from this synchronous tool to the asynchronous client, waited for right here.
        Task {
            let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
            let client = PostgresClient(configuration: url.clientConfiguration(poolSize: 1), backgroundLogger: logger)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    defer { group.cancelAll() }
                    for try await _ in try await client.query(PostgresQuery(unsafeSQL: statement)) {}
                }
                outcome.set(0, .success(()))
            } catch {
                outcome.set(0, .failure(BenchmarkError("database: \(String(reflecting: error))")))
            }
            semaphore.signal()
        }
        semaphore.wait()
        try outcome.values[0].get()
    }
}

/// Results filled in by concurrent workers.
final class ResultBox<Value>: @unchecked Sendable {
    // @unchecked: every access to `storage` holds `lock`.
    private let lock = NSLock()
    private var storage: [Result<Value, any Error>?]

    init(count: Int) {
        storage = Array(repeating: nil, count: count)
    }

    func set(_ index: Int, _ result: Result<Value, any Error>) {
        lock.withLock { storage[index] = result }
    }

    /// Every result; a slot never set is a failure.
    var values: [Result<Value, any Error>] {
        lock.withLock { storage.map { $0 ?? .failure(BenchmarkError("no result")) } }
    }
}

/// An `hdp-retry-agent serve` of the scale-out rows: on the file journal or on a database; for
/// ingest (dry run, HDP on a port nothing listens on, one call a second: as the ingest rows) or
/// for retries (against `hdp-sim`, no limit that matters: 32 in flight, 10,000 calls a second).
final class ScaleAgent {
    let process: ChildProcess
    let port: Int
    let adminPort: Int

    init(
        binary: String, directory: String, secret: String, databaseURL: String?, simulator: (port: Int, rules: String)?
    ) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try LoopbackConnection.freePort()
        adminPort = try LoopbackConnection.freePort()
        let hdp: String
        let dispatch: String
        if let simulator {
            hdp =
                "hdp: {base_url: \"http://127.0.0.1:\(simulator.port)\", timeout: 10s}\nrules: {path: \(simulator.rules), watch: false}"
            dispatch = "dispatch: {max_in_flight: 32, rate_per_second: 10000, burst: 1000}"
        } else {
            hdp =
                "dry_run: true\nhdp: {base_url: \"http://127.0.0.1:\(try LoopbackConnection.freePort())\", timeout: 1s}\nrules: {watch: false}"
            dispatch = "dispatch: {max_in_flight: 1, rate_per_second: 1, burst: 1}"
        }
        let configuration = """
            # Written by hdp-retry-bench ingest (scale-out rows).
            listen: 127.0.0.1:\(port)
            admin_listen: 127.0.0.1:\(adminPort)
            \(hdp)
            journal: {path: \(directory)/journal.jsonl, fsync: always, compact_above_bytes: 1099511627776}
            \(dispatch)
            reconcile: {interval: 0}
            store: {backend: \(databaseURL == nil ? "file" : "postgres"), postgres: {pool_size: 8}}

            """
        let path = directory + "/config.yaml"
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: path))
        var environment = ["PATH": "/usr/bin:/bin", "WEBHOOK_SECRETS": secret]
        if let databaseURL { environment["HDP_RETRY_DATABASE_URL"] = databaseURL }
        if simulator != nil { environment["HDP_API_KEY"] = ScaleOutBenchmark.apiKey }
        process = try ChildProcess(
            name: "hdp-retry-agent", executable: binary, arguments: ["serve", "--config", path],
            environment: environment, directory: directory, outputPath: directory + "/agent.log")
    }

    func waitUntilReady(timeout: Double) throws {
        guard process.isRunning else {
            throw BenchmarkError("the agent exited at start; see \(process.outputPath)")
        }
        try ScaleOutBenchmark.waitForHTTP(port: adminPort, path: "/readyz", timeout: timeout)
    }

    func stop() { _ = process.stop(grace: 15) }
}
