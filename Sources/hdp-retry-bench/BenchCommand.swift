import ArgumentParser
import Foundation

/// `hdp-retry-bench`: performance measurements of the agent's hot paths, run on release builds
/// (`swift run -c release hdp-retry-bench replay`, `… ingest`). Numbers, not assertions: tests
/// never time.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hdp-retry-bench", abstract: "Benchmarks of hdp-retry-agent.",
        subcommands: [ReplayCommand.self, IngestCommand.self])
}

/// `hdp-retry-bench replay`: journal generation, replay speed by layer, memory per task and
/// compaction, on a generated journal.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Generate a journal, then measure replay speed, memory per task and compaction.")

    @Option(help: "Records to generate.")
    var records = 1_000_000

    @Option(help: "Distinct tasks the notices are about.")
    var tasks = 100_000

    @Option(help: "Simulated hours the journal spans (the dedup window is 24h).")
    var hours = 24.0

    @Option(help: "Random seed (the same seed makes the same journal).")
    var seed: UInt64 = 1

    @Option(help: "Keep the generated journal at this path instead of a temporary file.")
    var keep: String?

    @Option(help: "Measure a copy of this existing journal instead of generating one.")
    var journal: String?

    @Flag(help: "Measure only the full replay (to look at it with a profiler).")
    var replayOnly = false

    func validate() throws {
        guard records > 0, tasks > 0, hours > 0 else {
            throw ValidationError("--records, --tasks and --hours must be positive")
        }
    }

    func run() throws {
        var benchmark = ReplayBenchmark(
            records: records, tasks: tasks, hours: hours, seed: seed, keep: keep, journal: journal,
            replayOnly: replayOnly)
        do {
            try benchmark.run()
        } catch let error as BenchmarkError {
            print(benchmark.table())
            throw ValidationError(error.description)
        }
        print(benchmark.table())
    }
}
