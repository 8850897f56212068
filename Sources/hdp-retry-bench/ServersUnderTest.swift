import Foundation

/// An `hdp-retry-agent serve` started for the benchmark, on free loopback ports, in a
/// directory of its own.
final class AgentUnderTest {
    /// The agent process.
    let process: ChildProcess
    /// The webhook listener's port.
    let port: Int
    /// The admin listener's port (`/metrics`, `/healthz`, `/readyz`).
    let adminPort: Int
    /// The webhook route.
    let path = "/webhooks/hdp"
    /// The agent's journal.
    let journalPath: String

    /// What the configuration chooses, and why (the measurement is of ingest alone):
    /// - `journal.fsync: always`: every acknowledged delivery is on disk, as shipped;
    /// - `dry_run` and `hdp.base_url` on a loopback port nothing listens on, with dispatch held
    ///   to one HDP call per second: the retries the deliveries schedule neither leave the
    ///   machine nor compete with ingest for the CPU (each call fails at once, the episode
    ///   stays open, and the breaker soon opens);
    /// - `rules.watch: false` and the built-in rules (the directory has no `rules/`);
    /// - the default log level (`info`, one line per accepted delivery) into a file, as a
    ///   service manager would collect it;
    /// - `compact_above_bytes` as given: far above what the run writes, except for the
    ///   compaction row.
    init(
        binary: String, directory: String, secret: String, compactAboveBytes: Int64, journalPath: String? = nil
    ) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try LoopbackConnection.freePort()
        adminPort = try LoopbackConnection.freePort()
        let deadPort = try LoopbackConnection.freePort()
        self.journalPath = journalPath ?? directory + "/journal.jsonl"
        let configuration = """
            # Written by hdp-retry-bench ingest.
            listen: 127.0.0.1:\(port)
            admin_listen: 127.0.0.1:\(adminPort)
            dry_run: true
            hdp:
              base_url: http://127.0.0.1:\(deadPort)
              timeout: 1s
            rules:
              watch: false
            journal:
              path: \(self.journalPath)
              fsync: always
              compact_above_bytes: \(compactAboveBytes)
            dispatch:
              max_in_flight: 1
              rate_per_second: 1
              burst: 1

            """
        let configurationPath = directory + "/config.yaml"
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: configurationPath))
        process = try ChildProcess(
            name: "hdp-retry-agent", executable: binary, arguments: ["serve", "--config", configurationPath],
            environment: ["PATH": "/usr/bin:/bin", "WEBHOOK_SECRETS": secret], directory: directory,
            outputPath: directory + "/agent.log")
    }

    /// Waits until `GET /readyz` answers 200.
    func waitUntilReady(timeout: Double) throws {
        let deadline = Monotonic.now + timeout
        let request = DeliveryFactory.get(path: "/readyz", port: adminPort)
        while Monotonic.now < deadline {
            guard process.isRunning else {
                throw BenchmarkError("the agent exited at start; its log:\n" + logTail())
            }
            let connection = LoopbackConnection(port: adminPort, timeout: 1)
            if let response = try? connection.exchange(request), response.status == 200 { return }
            usleep(50_000)
        }
        throw BenchmarkError("the agent was not ready within \(Int(timeout)) s; its log:\n" + logTail())
    }

    /// The last lines of the agent's log.
    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: process.outputPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// A scrape of the agent's metrics.
    func metrics() throws -> MetricsScrape { try MetricsScrape.fetch(port: adminPort) }

    /// Resident set size now (`VmRSS` of `/proc/PID/status`), in bytes.
    var residentBytes: Int { ProcessStatistics.residentBytes(pid: process.pid) }

    /// SIGTERM (the agent flushes and closes its journal), SIGKILL after 15 s.
    func stop() { process.stop(grace: 15) }
}

/// adnanh/webhook (`webhook`, Debian's package) with one hook that runs `/bin/true` when a
/// `payload-hmac-sha256` rule accepts the body's signature: the same work a generic HMAC webhook
/// receiver does, with no journal.
final class PeerUnderTest {
    /// The peer process.
    let process: ChildProcess
    /// Its port.
    let port: Int
    /// The hook's route.
    let path = "/hooks/hdp"

    init(binary: String, directory: String, secret: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try LoopbackConnection.freePort()
        let hooks: [[String: Any]] = [
            [
                "id": "hdp",
                "execute-command": "/bin/true",
                "response-message": "accepted",
                "trigger-rule-mismatch-http-response-code": 401,
                "trigger-rule": [
                    "match": [
                        "type": "payload-hmac-sha256", "secret": secret,
                        "parameter": ["source": "header", "name": "X-Hub-Signature-256"],
                    ]
                ],
            ]
        ]
        let hooksPath = directory + "/hooks.json"
        // webhook reads its hooks file as YAML, which has no `\/` escape.
        try JSONSerialization.data(
            withJSONObject: hooks, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        )
        .write(to: URL(fileURLWithPath: hooksPath))
        process = try ChildProcess(
            name: "webhook", executable: binary,
            arguments: ["-hooks", hooksPath, "-ip", "127.0.0.1", "-port", "\(port)"],
            environment: ["PATH": "/usr/bin:/bin"], directory: directory, outputPath: directory + "/webhook.log")
    }

    /// Waits until the peer answers HTTP.
    func waitUntilReady(timeout: Double) throws {
        let deadline = Monotonic.now + timeout
        let request = DeliveryFactory.get(path: "/", port: port)
        while Monotonic.now < deadline {
            guard process.isRunning else {
                let log = (try? String(contentsOfFile: process.outputPath, encoding: .utf8)) ?? ""
                throw BenchmarkError("webhook exited at start: \(log)")
            }
            if (try? LoopbackConnection(port: port, timeout: 1).exchange(request)) != nil { return }
            usleep(50_000)
        }
        throw BenchmarkError("webhook did not answer within \(Int(timeout)) s")
    }

    /// Stops the peer and anything it started.
    func stop() { process.stop(grace: 5) }
}

/// Figures about another process, from `/proc`.
enum ProcessStatistics {
    /// `VmRSS` of `/proc/PID/status`, in bytes; 0 when unreadable.
    static func residentBytes(pid: pid_t) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (Int(String(line.dropFirst(6).filter(\.isNumber))) ?? 0) * 1024
        }
        return 0
    }

    /// User + system CPU seconds of `/proc/PID/stat` (fields 14 and 15, in clock ticks), plus
    /// those of its reaped children (16 and 17) when `children` is set.
    static func cpuSeconds(pid: pid_t, children: Bool = false) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name, which may hold spaces: state is field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let user = Double(fields[11]), let system = Double(fields[12]),
            let childUser = Double(fields[13]), let childSystem = Double(fields[14])
        else { return 0 }
        return (user + system + (children ? childUser + childSystem : 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds all processors have spent busy since boot (`/proc/stat`: user, nice, system,
    /// irq, softirq and steal), to tell how much of the machine other processes took.
    static var machineBusySeconds: Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return 0 }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return 0 }
        let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// CPU use over one stretch of load: the server's, the load generator's and everyone else's,
/// each in CPUs (CPU seconds per second of wall-clock time).
struct CPUShare {
    private let start = Monotonic.now
    private let machineStart = ProcessStatistics.machineBusySeconds
    private let selfStart = cpuNanoseconds()
    private let serverStart: Double
    private let server: pid_t
    private let serverChildren: Bool
    private let generator: pid_t?
    private let generatorStart: Double

    /// Starts counting for the server `server` (with its reaped children when `serverChildren`)
    /// and the load generator `generator` (this process when `nil`).
    init(server: pid_t, serverChildren: Bool = false, generator: pid_t? = nil) {
        self.server = server
        self.serverChildren = serverChildren
        self.generator = generator
        serverStart = ProcessStatistics.cpuSeconds(pid: server, children: serverChildren)
        generatorStart = generator.map { ProcessStatistics.cpuSeconds(pid: $0) } ?? 0
    }

    /// The shares since the start; `generatorTotal` is the generator's whole CPU time when it
    /// has ended (and `/proc` no longer has it).
    func end(generatorTotal: Double? = nil) -> (server: Double, generator: Double, others: Double) {
        let wall = max(Monotonic.now - start, 1e-9)
        let serverSeconds = ProcessStatistics.cpuSeconds(pid: server, children: serverChildren) - serverStart
        let ownSeconds = Double(cpuNanoseconds() - selfStart) / 1e9
        let generatorSeconds: Double
        if let generator {
            generatorSeconds = (generatorTotal ?? ProcessStatistics.cpuSeconds(pid: generator)) - generatorStart
        } else {
            generatorSeconds = ownSeconds
        }
        let machine = ProcessStatistics.machineBusySeconds - machineStart
        let others = max(0, machine - serverSeconds - generatorSeconds - (generator == nil ? 0 : ownSeconds))
        return (serverSeconds / wall, generatorSeconds / wall, others / wall)
    }
}
