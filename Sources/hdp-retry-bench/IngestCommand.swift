import ArgumentParser
import Foundation

/// `hdp-retry-bench ingest`: the webhook listener under load, next to a generic HMAC webhook
/// receiver on the same machine, in one table.
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Start the agent (and adnanh/webhook as a peer) on loopback and measure webhook ingest with wrk.",
        discussion: """
            Needs a release build of the agent next to this program:
              swift build -c release --scratch-path .build-release --product hdp-retry-agent
            and wrk (installed with apt-get when running as root; webhook too, for the peer row).
            """)

    @Option(help: "The hdp-retry-agent binary (default: the one next to this program).")
    var agent: String?

    @Option(help: "Length of each load row (10s, 1m; whole seconds).")
    var duration = "10s"

    @Option(help: "wrk connections, across all threads (also the fixed-rate driver's connections).")
    var connections = 32

    @Option(help: "wrk threads.")
    var threads = 2

    @Option(help: "Unique deliveries signed for the durable row (default: 25,000 per second of --duration).")
    var deliveries: Int?

    @Option(help: "Deliveries per second of the fixed-rate rows.")
    var rate = 2000.0

    @Option(help: "Open tasks to reach before measuring RSS (default 100,000; 5,000 with --quick).")
    var openTasks: Int?

    @Flag(help: "Skip the peer (adnanh/webhook) row.")
    var skipPeer = false

    @Flag(help: "Smoke run for CI: 1 s per row, few deliveries, a small RSS step.")
    var quick = false

    @Flag(help: "Keep the working directory (configuration, logs, journals, wrk scripts and outputs).")
    var keep = false

    @Option(
        help: """
            A PostgreSQL URL whose user may create databases: adds the scale-out rows (durable ingest and             retries per second of one agent on the file journal, and of 1 and 3 agents on one database).             Needs hdp-sim built next to the agent.
            """)
    var postgres: String?

    @Option(name: .customLong("scale-out-tasks"), help: "Failed tasks of the scale-out retry rows (default 3,000).")
    var scaleOutTasks = 3000

    @Flag(name: .customLong("scale-out-only"), help: "With --postgres: only the scale-out rows.")
    var scaleOutOnly = false

    func validate() throws {
        guard Self.seconds(duration) != nil else { throw ValidationError("--duration: whole seconds, like 10s or 1m") }
        guard connections >= 1, threads >= 1, connections >= threads else {
            throw ValidationError(
                "--connections and --threads must be positive, with at least one connection per thread")
        }
        guard rate > 0, (deliveries ?? 1) > 0, (openTasks ?? 1) >= 0 else {
            throw ValidationError("--rate and --deliveries must be positive")
        }
    }

    func run() throws {
        ChildProcess.installCleanup()
        let seconds = quick ? 1 : Self.seconds(duration)!
        var benchmark = IngestBenchmark(
            agent: try agent ?? Self.defaultAgent(), seconds: seconds, connections: connections, threads: threads,
            deliveries: deliveries ?? max(quick ? 20_000 : 50_000, 25_000 * seconds), rate: rate,
            openTasks: openTasks ?? (quick ? 5_000 : 100_000), skipPeer: skipPeer, keep: keep)
        benchmark.postgres = postgres
        benchmark.scaleOutTasks = quick ? min(scaleOutTasks, 300) : scaleOutTasks
        benchmark.scaleOutOnly = scaleOutOnly
        defer { ChildProcess.killAll() }
        do {
            try benchmark.run()
        } catch let error as BenchmarkError {
            print(benchmark.table())
            FileHandle.standardError.write(Data("hdp-retry-bench ingest: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
        print(benchmark.table())
    }

    /// `10s`, `10`, `2m` → seconds.
    static func seconds(_ text: String) -> Int? {
        if let value = Int(text), value > 0 { return value }
        if text.hasSuffix("s"), let value = Int(text.dropLast()), value > 0 { return value }
        if text.hasSuffix("m"), let value = Int(text.dropLast()), value > 0 { return value * 60 }
        return nil
    }

    /// `hdp-retry-agent` in the folder of this program (the same `swift build` products folder).
    static func defaultAgent() throws -> String {
        let this =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let candidate = URL(fileURLWithPath: this).deletingLastPathComponent().appendingPathComponent("hdp-retry-agent")
        guard FileManager.default.isExecutableFile(atPath: candidate.path) else {
            throw ValidationError(
                "no agent at \(candidate.path): build it with "
                    + "`swift build -c release --product hdp-retry-agent` (with the same --scratch-path as this "
                    + "program), or name one with --agent PATH")
        }
        return candidate.path
    }
}
