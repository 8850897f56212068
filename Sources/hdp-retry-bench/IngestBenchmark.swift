import Foundation
import RetryJournal

/// The `ingest` benchmark: the agent's webhook paths under wrk, a generic HMAC webhook receiver
/// as the peer, a fixed-rate run, memory per open task, and latency while the journal compacts.
///
/// Order: the agent starts and its idle RSS is read before any load; durable deliveries, the
/// same deliveries again, bad signatures and `/healthz` run under wrk; the fixed-rate row runs on
/// the agent that now holds the durable row's tasks; deliveries are added up to the open-task
/// target and RSS is read again; the agent stops. A second agent then starts on a copy of that
/// journal with a compaction threshold a little above its size and takes a fixed-rate run that
/// crosses it. The peer runs last, alone.
struct IngestBenchmark {
    /// The `hdp-retry-agent` binary.
    var agent: String
    /// Length of each load row.
    var seconds: Int
    /// wrk's connections, and the fixed-rate driver's.
    var connections: Int
    /// wrk's threads (one request file each).
    var threads: Int
    /// Unique deliveries signed for the durable row.
    var deliveries: Int
    /// Deliveries per second of the fixed-rate rows.
    var rate: Double
    /// Open tasks to reach before the second RSS reading.
    var openTasks: Int
    /// Leave the peer out.
    var skipPeer: Bool
    /// Keep the working directory.
    var keep: Bool
    /// With a database URL: the scale-out rows (file journal, 1 and 3 agents on PostgreSQL).
    var postgres: String?
    /// Failed tasks of the scale-out rows' retry measurement.
    var scaleOutTasks = 3000
    /// Only the scale-out rows.
    var scaleOutOnly = false

    /// The rows, in the order of the table.
    var rows: [IngestRow] = []
    /// Lines under the table: targets, the machine, caveats.
    var notes: [String] = []
    private var machine = ""
    var measured = Measured()

    /// Figures the ratios and targets are computed from.
    struct Measured {
        var durable: Double?
        var duplicate: Double?
        var peer: Double?
        var fixedRateP99: Double?
        var compactionP99: Double?
        /// Ingest and retries per second: file journal, PostgreSQL with 1 agent, with 3 agents.
        var scaleOut: [ScaleOutBenchmark.Figures] = []
        var idleRSS: Int?
        var bytesPerTask: Double?
        var openTasks: Int?
    }

    init(
        agent: String, seconds: Int, connections: Int, threads: Int, deliveries: Int, rate: Double, openTasks: Int,
        skipPeer: Bool, keep: Bool
    ) {
        self.agent = agent
        self.seconds = seconds
        self.connections = connections
        self.threads = threads
        self.deliveries = deliveries
        self.rate = rate
        self.openTasks = openTasks
        self.skipPeer = skipPeer
        self.keep = keep
    }

    mutating func run() throws {
        let directory = NSTemporaryDirectory() + "hdp-retry-bench-ingest-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if !keep { ChildProcess.removeOnInterrupt.withLock { $0 = directory } }
        defer {
            if keep {
                notes.append("working directory kept: \(directory)")
            } else {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        machine = MachineDescription.line(directory: directory)
        let tools = LoadTools.ensure(skipPeer ? ["wrk"] : ["wrk", "webhook"], workDirectory: directory)
        notes.append(contentsOf: tools.notes)
        guard let wrkPath = tools.paths["wrk"] else {
            throw BenchmarkError("wrk is needed: apt-get install -y wrk")
        }
        let wrk = WrkRun(
            wrk: wrkPath, threads: threads, connections: connections, duration: seconds, directory: directory)
        var versions = [LoadTools.version(wrkPath, arguments: ["-v"], directory: directory)]
        if !agent.contains("/release/") {
            notes.append("⚠ \(agent) does not look like a release build (no /release/ in its path)")
        }
        versions.insert(LoadTools.version(agent, arguments: ["version"], directory: directory), at: 0)

        var factory = DeliveryFactory()
        if let postgres {
            try measureScaleOut(postgres: postgres, wrk: wrkPath, factory: &factory, directory: directory)
            if scaleOutOnly {
                machine += "; " + versions.joined(separator: ", ")
                return
            }
        }
        let durable = factory.make(deliveries)
        let journal = try measureAgent(wrk: wrk, factory: &factory, durable: durable, directory: directory)
        try measureCompaction(factory: &factory, journal: journal, directory: directory)

        if skipPeer {
            rows.append(IngestRow(order: 4, path: Self.peerTitle, note: "skipped (--skip-peer)"))
        } else if let webhook = tools.paths["webhook"] {
            versions.append(LoadTools.version(webhook, arguments: ["-version"], directory: directory))
            try measurePeer(binary: webhook, wrk: wrk, factory: factory, deliveries: durable, directory: directory)
        } else {
            rows.append(IngestRow(order: 4, path: Self.peerTitle, note: "not installed: apt-get install -y webhook"))
        }
        machine += "; " + versions.joined(separator: ", ")
    }

    static let peerTitle = "peer: adnanh/webhook, payload-hmac-sha256 rule, `/bin/true`"

    // MARK: The agent

    /// Every row of the main agent; returns its journal's path once it has stopped.
    private mutating func measureAgent(
        wrk: WrkRun, factory: inout DeliveryFactory, durable: [Delivery], directory: String
    ) throws -> String {
        let agentDirectory = directory + "/agent"
        let agentUnderTest = try AgentUnderTest(
            binary: agent, directory: agentDirectory, secret: factory.agentSecret, compactAboveBytes: 1 << 40)
        defer { agentUnderTest.stop() }
        try agentUnderTest.waitUntilReady(timeout: 60)
        let url = "http://127.0.0.1:\(agentUnderTest.port)\(agentUnderTest.path)"
        usleep(1_000_000)
        let idle = agentUnderTest.residentBytes
        measured.idleRSS = idle
        rows.append(
            IngestRow(order: 7, path: "RSS idle (after /readyz, before any load)", result: Self.megabytes(idle)))

        // Durable deliveries, then the same again.
        let timestamp = Int(Date().timeIntervalSince1970)
        let prefix = directory + "/durable"
        let requests = durable.map {
            factory.agentRequest($0, port: agentUnderTest.port, path: agentUnderTest.path, timestamp: timestamp)
        }
        _ = try RequestFiles.write(requests, slices: threads, prefix: prefix)
        let durableSummary = try wrkRow(
            0, "durable signed delivery → 202", wrk: wrk, agent: agentUnderTest, url: url, prefix: prefix,
            expected: "accepted", status: 202, journalFigures: true)
        measured.durable = durableSummary.rate
        // Again: each thread's requests up to the last one surely answered (the connection's last
        // may have been in flight when wrk stopped), from the second (the first thread's first
        // one was wrk's unsent check request).
        let perThread = connections / threads
        let limits = durableSummary.sent.map { max(2, $0 - perThread - 1) }
        let duplicateSummary = try wrkRow(
            1, "the same deliveries again → 200 duplicate", wrk: wrk, agent: agentUnderTest, url: url, prefix: prefix,
            first: 2, limits: limits, expected: "duplicate", status: 200)
        measured.duplicate = duplicateSummary.rate

        // Authentication alone, and the admin listener.
        let badPrefix = directory + "/unauthorized"
        let bad = factory.make(threads).map {
            factory.badSignatureRequest(
                $0, port: agentUnderTest.port, path: agentUnderTest.path, timestamp: Int(Date().timeIntervalSince1970))
        }
        _ = try RequestFiles.write(bad, slices: threads, prefix: badPrefix)
        _ = try wrkRow(
            2, "bad signature → 401 (auth only)", wrk: wrk, agent: agentUnderTest, url: url, prefix: badPrefix,
            expected: "unauthorized", status: 401)
        let healthPrefix = directory + "/healthz"
        let health = [[UInt8]](
            repeating: DeliveryFactory.get(path: "/healthz", port: agentUnderTest.adminPort), count: threads)
        _ = try RequestFiles.write(health, slices: threads, prefix: healthPrefix)
        _ = try wrkRow(
            3, "admin GET /healthz", wrk: wrk, agent: agentUnderTest,
            url: "http://127.0.0.1:\(agentUnderTest.adminPort)/healthz", prefix: healthPrefix, expected: nil,
            status: 200)

        // Fixed rate, open loop, on the agent that now holds the durable row's tasks.
        let fixed = try fixedRateRow(
            "fixed rate \(Self.count(Int(rate)))/s, open loop (durable deliveries)", agent: agentUnderTest,
            factory: &factory, compaction: false)
        measured.fixedRateP99 = fixed

        // Memory per open task.
        try fillAndMeasureMemory(agent: agentUnderTest, factory: &factory, idle: idle)
        agentUnderTest.stop()
        return agentUnderTest.journalPath
    }

    /// One wrk row against the agent, checked against the agent's own count of answers by outcome.
    private mutating func wrkRow(
        _ order: Int, _ title: String, wrk: WrkRun, agent: AgentUnderTest, url: String, prefix: String,
        first: Int = 1, limits: [Int] = [], expected: String?, status: Int, journalFigures: Bool = false
    ) throws -> WrkRun.Summary {
        let before = try agent.metrics()
        let name = URL(fileURLWithPath: prefix).lastPathComponent + (limits.isEmpty ? "" : "-again")
        let summary = try wrk.run(
            name: name, url: url, prefix: prefix, first: first, limits: limits, server: agent.process.pid)
        usleep(300_000)  // answers still in flight when wrk stopped
        let after = try agent.metrics()
        var check: ResponseCheck
        if let expected {
            let outcomes = after.webhookOutcomes.merging(before.webhookOutcomes.mapValues { -$0 }, uniquingKeysWith: +)
            check = ResponseCheck(
                expected: Int(outcomes[expected] ?? 0), status: status,
                others: outcomes.filter { $0.key != expected && $0.value > 0 }.mapValues(Int.init),
                socketErrors: summary.socketErrors)
            // A 2xx row must have no non-2xx answer; the 401 row no 2xx one.
            if status < 300, summary.non2xx3xx > 0 { check.others["non-2xx (wrk)", default: 0] += summary.non2xx3xx }
            if status >= 400, summary.non2xx3xx < summary.requests {
                check.others["2xx (wrk)", default: 0] += summary.requests - summary.non2xx3xx
            }
        } else {
            check = ResponseCheck(
                expected: summary.requests - summary.non2xx3xx, status: status,
                others: summary.non2xx3xx > 0 ? ["other": summary.non2xx3xx] : [:], socketErrors: summary.socketErrors)
        }
        var note = String(
            format: "CPUs: agent %.2f, wrk %.2f, other processes %.2f", summary.cpu.server, summary.cpu.wrk,
            summary.cpu.others)
        if journalFigures {
            let records =
                after.value("hdp_retry_journal_records_total") - before.value("hdp_retry_journal_records_total")
            let syncs =
                after.value("hdp_retry_journal_fsync_seconds_count")
                - before.value("hdp_retry_journal_fsync_seconds_count")
            let syncSeconds =
                after.value("hdp_retry_journal_fsync_seconds_sum") - before.value("hdp_retry_journal_fsync_seconds_sum")
            if records > 0 {
                note += String(
                    format: "; %.0f records, %.3f fdatasync/record (%.1f records per group commit, "
                        + "write + fdatasync %.2f ms on average)", records, syncs / records, records / max(syncs, 1),
                    syncSeconds / max(syncs, 1) * 1000)
            }
            if check.others["duplicate"] != nil {
                note += "; ran out of unique deliveries: raise --deliveries"
            }
        }
        rows.append(
            IngestRow(
                order: order, path: title, result: Self.perSecond(summary.rate), latency: summary.latency,
                responses: check.description, flagged: check.flagged, note: note))
        return summary
    }

    /// A fixed-rate open-loop row of fresh deliveries; returns its p99 in seconds.
    private mutating func fixedRateRow(
        _ title: String, agent: AgentUnderTest, factory: inout DeliveryFactory, compaction: Bool
    ) throws -> Double {
        let count = Int(rate * Double(seconds))
        let timestamp = Int(Date().timeIntervalSince1970)
        let requests = factory.make(count).map {
            factory.agentRequest($0, port: agent.port, path: agent.path, timestamp: timestamp)
        }
        let before = try agent.metrics()
        let share = CPUShare(server: agent.process.pid)
        var compactionsSeen: [Double] = []
        var lastCompactions = before.value("hdp_retry_journal_compactions_total")
        let result = LoadDriver.fixedRate(
            port: agent.port, requests: requests, rate: rate, connections: connections
        ) { elapsed in
            guard compaction, let scrape = try? agent.metrics() else { return }
            let compactions = scrape.value("hdp_retry_journal_compactions_total")
            if compactions > lastCompactions { compactionsSeen.append(elapsed) }
            lastCompactions = compactions
        }
        let cpu = share.end()
        let after = try agent.metrics()
        let all = result.quantiles()
        let answered = result.latencies.count
        var others = [String: Int]()
        for (status, number) in result.statuses where status != 202 { others["\(status)"] = number }
        if result.failures > 0 { others["no answer"] = result.failures }
        let check = ResponseCheck(
            expected: result.statuses[202] ?? 0, status: 202, others: others, socketErrors: 0)
        var note = String(
            format: "CPUs: agent %.2f, this driver %.2f, other processes %.2f", cpu.server, cpu.generator, cpu.others)
        if result.late > 0 {
            note +=
                "; \(Self.count(result.late)) sent over 1 ms late (their connection was still busy; "
                + "latency counts from the schedule)"
        }
        if let failure = result.firstFailure { note += "; first failure: \(failure)" }
        var flagged = check.flagged
        if compaction {
            let compactions = Int(
                after.value("hdp_retry_journal_compactions_total") - before.value("hdp_retry_journal_compactions_total")
            )
            if let first = compactionsSeen.first {
                let window = result.quantiles(in: (first - 0.3)...(first + 1.0))
                let journalBytes = Int(after.value("hdp_retry_journal_bytes"))
                note =
                    "\(compactions) compaction(s), first seen at \(String(format: "%.1f", first)) s, "
                    + "journal \(Self.megabytes(journalBytes)) at the end; "
                    + "requests due from 0.3 s before to 1 s after it: p99 \(Self.milliseconds(window.p99)), "
                    + "max \(Self.milliseconds(window.max)) (\(window.count) requests); " + note
                measured.compactionP99 = window.p99
            } else {
                note = "⚠ no compaction happened during the run; " + note
                flagged = true
            }
        }
        rows.append(
            IngestRow(
                order: compaction ? 6 : 5, path: title,
                result: Self.perSecond(Double(answered) / max(result.seconds, 1e-9)), latency: all,
                responses: check.description, flagged: flagged, note: note))
        return all.p99
    }

    /// Adds deliveries (as fast as the agent takes them) up to the open-task target, then reads
    /// RSS and the agent's count of open episodes.
    private mutating func fillAndMeasureMemory(
        agent: AgentUnderTest, factory: inout DeliveryFactory, idle: Int
    ) throws {
        let open = Int(try agent.metrics().value("hdp_retry_pending_retries"))
        if open < openTasks {
            let timestamp = Int(Date().timeIntervalSince1970)
            let requests = factory.make(openTasks - open).map {
                factory.agentRequest($0, port: agent.port, path: agent.path, timestamp: timestamp)
            }
            let result = LoadDriver.asFastAsPossible(
                port: agent.port, requests: requests, connections: connections, timeout: 600)
            if result.unexpected(expected: 202) > 0 {
                notes.append(
                    "⚠ adding open tasks: \(result.unexpected(expected: 202)) of \(requests.count) deliveries "
                        + "not answered 202 (\(result.firstFailure ?? "other statuses"))")
            }
        }
        usleep(2_000_000)
        let resident = agent.residentBytes
        let pending = Int(try agent.metrics().value("hdp_retry_pending_retries"))
        let perTask = Double(resident - idle) / Double(max(pending, 1))
        measured.bytesPerTask = perTask
        measured.openTasks = pending
        rows.append(
            IngestRow(
                order: 8, path: "RSS with \(Self.count(pending)) open tasks", result: Self.megabytes(resident),
                note: String(
                    format: "(RSS − idle) / open tasks = %.0f bytes per open task (hdp_retry_pending_retries)",
                    perTask)))
    }

    // MARK: Compaction

    /// A second agent on a copy of the first one's journal, with a compaction threshold that a
    /// fixed-rate run crosses halfway.
    private mutating func measureCompaction(factory: inout DeliveryFactory, journal: String, directory: String) throws {
        let compactionDirectory = directory + "/compaction"
        try FileManager.default.createDirectory(atPath: compactionDirectory, withIntermediateDirectories: true)
        let copy = compactionDirectory + "/journal.jsonl"
        try FileManager.default.copyItem(atPath: journal, toPath: copy)
        // The copy without the zero-filled space the first agent wrote ahead of its records (up
        // to 8 MiB): the threshold is set from the records' size, which is what the agent
        // compares with it.
        let size = try Self.truncateToRecords(copy)
        // A delivery record is about 670 bytes: cross the threshold about halfway through.
        let extra = min(8 << 20, max(256 << 10, Int64(rate * Double(seconds) * 670 / 2)))
        let agentUnderTest = try AgentUnderTest(
            binary: agent, directory: compactionDirectory, secret: factory.agentSecret,
            compactAboveBytes: size + extra, journalPath: copy)
        defer { agentUnderTest.stop() }
        try agentUnderTest.waitUntilReady(timeout: 120)
        let tasks = Int(try agentUnderTest.metrics().value("hdp_retry_pending_retries"))
        _ = try fixedRateRow(
            "fixed rate \(Self.count(Int(rate)))/s during an automatic compaction "
                + "(journal \(Self.megabytes(Int(size))), \(Self.count(tasks)) open tasks)",
            agent: agentUnderTest, factory: &factory, compaction: true)
        agentUnderTest.stop()
    }

    /// Cuts the zero-filled space written ahead of the records off the journal at `path` (as
    /// ``JournalFile/endOfRecords(_:length:)`` finds it); returns the records' length.
    static func truncateToRecords(_ path: String) throws -> Int64 {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw BenchmarkError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw BenchmarkError("cannot stat \(path)") }
        let end = JournalFile.endOfRecords(fd, length: Int64(info.st_size))
        guard ftruncate(fd, off_t(end)) == 0 else { throw BenchmarkError("cannot truncate \(path)") }
        return end
    }

    // MARK: The peer

    private mutating func measurePeer(
        binary: String, wrk: WrkRun, factory: DeliveryFactory, deliveries: [Delivery], directory: String
    ) throws {
        let peer = try PeerUnderTest(binary: binary, directory: directory + "/peer", secret: factory.peerSecret)
        defer { peer.stop() }
        try peer.waitUntilReady(timeout: 30)
        let prefix = directory + "/peer-requests"
        let requests = deliveries.map { factory.peerRequest($0, port: peer.port, path: peer.path) }
        _ = try RequestFiles.write(requests, slices: threads, prefix: prefix)
        let summary = try wrk.run(
            name: "peer", url: "http://127.0.0.1:\(peer.port)\(peer.path)", prefix: prefix,
            server: peer.process.pid, serverChildren: true)
        let check = ResponseCheck(
            expected: summary.requests - summary.non2xx3xx, status: 200,
            others: summary.non2xx3xx > 0 ? ["non-2xx": summary.non2xx3xx] : [:], socketErrors: summary.socketErrors)
        measured.peer = summary.rate
        rows.append(
            IngestRow(
                order: 4, path: Self.peerTitle, result: Self.perSecond(summary.rate), latency: summary.latency,
                responses: check.description, flagged: check.flagged,
                note: String(
                    format: "CPUs: webhook %.2f (with its /bin/true children), wrk %.2f, other processes %.2f; "
                        + "no journal, no fsync", summary.cpu.server, summary.cpu.wrk, summary.cpu.others)))
    }

    // MARK: The report

    /// The table, the ratios against the targets, the machine and the caveats.
    func table() -> String {
        var lines = [
            "| path | result | p50 | p99 | max | responses | notes |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        for row in rows.sorted(by: { $0.order < $1.order }) {
            let latency = row.latency
            lines.append(
                "| \(row.path) | \(row.result) | \(latency.map { Self.milliseconds($0.p50) } ?? "") | "
                    + "\(latency.map { Self.milliseconds($0.p99) } ?? "") | "
                    + "\(latency.map { Self.milliseconds($0.max) } ?? "") | "
                    + "\(row.flagged ? "⚠ " : "")\(row.responses) | \(row.note) |")
        }
        lines.append("")
        lines.append("Targets (issue 12), as ratios within this run:")
        lines.append(contentsOf: targetLines())
        lines.append("")
        lines.append("machine: \(machine)")
        lines.append(
            "load: wrk (\(threads) threads, \(connections) connections, \(seconds) s per row) and the fixed-rate driver "
                + "run on the same CPUs as the server they measure; the notes say how many CPUs each took, "
                + "and how many other processes took. "
                + "Deliveries are signed before each row, so signing costs the load nothing.")
        lines.append(contentsOf: notes)
        return lines.joined(separator: "\n")
    }

    private func targetLines() -> [String] {
        func verdict(_ ok: Bool) -> String { ok ? "✓" : "✗" }
        var lines = scaleOutTargetLines()
        if let durable = measured.durable, let duplicate = measured.duplicate {
            let ratio = durable / duplicate
            lines.append(
                String(format: "- durable / duplicate = %.2f× (target ≥ 0.7×) %@", ratio, verdict(ratio >= 0.7)))
        }
        if let durable = measured.durable, let peer = measured.peer {
            let ratio = durable / peer
            lines.append(String(format: "- durable / peer = %.2f× (target ≥ 3×) %@", ratio, verdict(ratio >= 3)))
        } else {
            lines.append("- durable / peer: no peer row")
        }
        if let p99 = measured.fixedRateP99 {
            lines.append(
                "- p99 at \(Self.count(Int(rate))) deliveries/s = \(Self.milliseconds(p99)) (target ≤ 5 ms) "
                    + verdict(p99 <= 0.005))
        }
        if let idle = measured.idleRSS {
            lines.append("- RSS idle = \(Self.megabytes(idle)) (target ≤ 25 MB) " + verdict(idle <= 25_000_000))
        }
        if let perTask = measured.bytesPerTask, let open = measured.openTasks {
            lines.append(
                String(
                    format: "- %.0f bytes of RSS per open task at %@ open tasks (target ≤ 1,000 at 100 k) %@", perTask,
                    Self.count(open), verdict(perTask <= 1000)))
        }
        if let p99 = measured.compactionP99 {
            lines.append(
                "- p99 around an automatic compaction = \(Self.milliseconds(p99)) (no stall: reported, no fixed target)"
            )
        }
        return lines
    }

    static func perSecond(_ rate: Double) -> String { count(Int(rate.rounded())) + "/s" }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

    static func milliseconds(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        return seconds < 0.01 ? String(format: "%.2f ms", seconds * 1000) : String(format: "%.1f ms", seconds * 1000)
    }

    /// `12345` → `12,345`.
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }
}

/// One line of the ingest table.
struct IngestRow {
    /// Place in the table (rows are measured in another order).
    var order: Int
    /// What was measured.
    var path: String
    /// Throughput or size.
    var result: String = ""
    /// Latency quantiles, for load rows.
    var latency: Quantiles?
    /// What the responses were (`65,120 × 202`).
    var responses: String = ""
    /// Some responses were not the expected ones: the row's figures include them.
    var flagged = false
    /// CPU shares, journal figures, anything that qualifies the numbers.
    var note: String = ""
}

/// The responses of a row against the one status the row is about.
struct ResponseCheck {
    /// Responses with the expected status (or outcome).
    var expected: Int
    /// The expected HTTP status.
    var status: Int
    /// Other responses by outcome or status.
    var others: [String: Int]
    /// wrk's connect, read, write and timeout errors.
    var socketErrors: Int

    /// Whether anything but the expected answer came back.
    var flagged: Bool { !others.isEmpty || socketErrors > 0 }

    /// `65,120 × 202, 3 × duplicate`.
    var description: String {
        var parts = ["\(IngestBenchmark.count(expected)) × \(status)"]
        for (name, number) in others.sorted(by: { $0.key < $1.key }) {
            parts.append("\(IngestBenchmark.count(number)) × \(name)")
        }
        if socketErrors > 0 { parts.append("\(IngestBenchmark.count(socketErrors)) socket errors") }
        return parts.joined(separator: ", ")
    }
}
