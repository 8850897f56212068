import ArgumentParser
import Foundation
import Logging
import RetryAgent
import RetryJournal

/// `hdp-retry-agent`: the daemon and its operator tools.
@main
struct HDPRetryAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hdp-retry-agent",
        abstract: "Keeps Herodotus Data Processor tasks alive: verified, classified, deduplicated retries.",
        version: RetryAgentVersion.current,
        subcommands: [
            ServeCommand.self, RulesCommand.self, JournalCommand.self, TasksCommand.self, ReconcileCommand.self,
            SendCommand.self,
            VersionCommand.self,
        ]
    )
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")
    func run() { print("hdp-retry-agent \(RetryAgentVersion.current)") }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the daemon.")

    @Option(help: "YAML configuration file.") var config: String?
    @Option(help: "Webhook listener HOST:PORT (default 127.0.0.1:8080).") var listen: String?
    @Option(name: .customLong("admin-listen"), help: "Admin listener HOST:PORT (default 127.0.0.1:9464).")
    var adminListen: String?
    @Option(help: "Rules file or folder (default ./rules).") var rules: String?
    @Option(help: "Journal file (default ./var/journal.jsonl).") var journal: String?
    @Option(name: .customLong("hdp-url"), help: "HDP API base URL.") var hdpURL: String?
    @Flag(name: .customLong("dry-run"), help: "Decide and journal everything; send nothing.") var dryRun = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var overrides = AgentConfiguration.Overrides()
        overrides.listen = listen
        overrides.adminListen = adminListen
        overrides.rules = rules
        overrides.journal = journal
        overrides.hdpURL = hdpURL
        overrides.dryRun = dryRun
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(file: config, environment: environment, flags: overrides)
        } catch {
            FileHandle.standardError.write(Data("hdp-retry-agent: configuration error:\n\(error.description)\n".utf8))
            throw ExitCode(2)
        }
        let logger = AgentLogging.bootstrap(format: configuration.log.format, level: configuration.log.level)
        if config == nil { logger.notice("no --config given: using built-in defaults, the environment and flags") }
        do {
            try await AgentApplication.run(configuration: configuration, environment: environment, logger: logger)
        } catch let error as ConfigurationError {
            logger.critical("cannot start", metadata: ["error": "\(error.description)"])
            throw ExitCode(2)
        } catch let error as JournalError {
            logger.critical(
                "cannot start: journal", metadata: ["error": "\(error.message)", "reason": "\(error.reason)"])
            throw ExitCode(3)
        }
    }
}
