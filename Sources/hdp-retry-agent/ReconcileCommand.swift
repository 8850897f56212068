import ArgumentParser
import Foundation
import Logging
import RetryAgent

/// `reconcile --dry-run`: what a reconciliation sweep would pick up now (SPEC §7); changes
/// nothing. Without `--dry-run` it refuses: the running agent sweeps by itself, and
/// `POST /-/reconcile` on its admin listener runs a sweep now.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Show what a reconciliation sweep of HDP's task list would pick up (--dry-run; changes nothing).",
        discussion: """
            Pages GET /tasks as the agent's sweep does (reconcile.*), reads the journal without \
            taking its lock (it runs beside a live agent) and decides each failed task with the \
            configured rules, printing what a sweep would do with it and why. Nothing is journaled \
            and no retry is sent. Exit 0 when the list was read, 1 when a list call failed, 2 on \
            a configuration error.
            """
    )

    @Flag(name: .customLong("dry-run"), help: "Required: print what a sweep would pick up; change nothing.")
    var dryRun = false
    @Option(help: "YAML configuration file.") var config: String?
    @Option(help: "Journal file (default: journal.path).") var journal: String?
    @Option(help: "Rules file or folder (default: rules.path).") var rules: String?
    @Option(name: .customLong("hdp-url"), help: "HDP API base URL.") var hdpURL: String?

    func run() async throws {
        guard dryRun else {
            FileHandle.standardError.write(
                Data(
                    """
                    reconcile: only --dry-run is supported. The running agent sweeps by itself every \
                    reconcile.interval; POST /-/reconcile on its admin listener runs a sweep now.

                    """.utf8))
            throw ExitCode(2)
        }
        let environment = ProcessInfo.processInfo.environment
        var overrides = AgentConfiguration.Overrides()
        overrides.journal = journal
        overrides.rules = rules
        overrides.hdpURL = hdpURL
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(file: config, environment: environment, flags: overrides)
        } catch {
            FileHandle.standardError.write(Data("reconcile: configuration error:\n\(error.description)\n".utf8))
            throw ExitCode(2)
        }
        // Problems go to standard error; the table is the only thing on standard output.
        let logger = Logger(label: "hdp-retry-agent") { label in
            var handler = LineLogHandler(label: label, json: false)
            handler.logLevel = .warning
            return handler
        }
        let outcome: ReconcileDryRun.Outcome
        do {
            outcome = try await ReconcileDryRun.run(
                configuration: configuration, environment: environment, logger: logger)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("reconcile: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        print(outcome.text)
        if outcome.report.result == .failed { throw ExitCode(1) }
    }
}
