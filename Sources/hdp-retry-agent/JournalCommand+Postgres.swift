import ArgumentParser
import Foundation
import Logging
import RetryAgent
import RetryCore
import RetryJournal
import RetryPostgres

extension JournalCommand {
    /// `journal export`: the PostgreSQL journal as the file journal's lines.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the PostgreSQL store's journal as a file journal (JSON lines).",
            discussion: """
                The database is HDP_RETRY_DATABASE_URL, or store.postgres.url of --config. Lines go \
                to --journal FILE (which must not exist yet), or to standard output. Runs beside live \
                agents: records committed while it reads may be left out.
                """)
        @Option(help: "YAML configuration file naming the database.") var config: String?
        @Option(help: "The file journal to write (default: standard output).") var journal: String?

        func run() async throws {
            guard let settings = try JournalCommand.database(config: config, onlyIfPostgres: false) else { return }
            var handle = FileHandle.standardOutput
            if let journal {
                guard FileManager.default.createFile(atPath: journal, contents: nil) else {
                    JournalCommand.fail("journal export: cannot create \(journal)", code: 1)
                }
                guard let opened = FileHandle(forWritingAtPath: journal) else {
                    JournalCommand.fail("journal export: cannot write \(journal)", code: 1)
                }
                handle = opened
            }
            let output = handle
            let count = try await JournalCommand.withDatabase(settings) { store in
                // A failed write (a full disk) is an error with its reason, never a trap.
                try await store.exportJournal { try output.write(contentsOf: Data($0)) }
            }
            if let journal {
                try output.synchronize()
                try output.close()
                print("\(journal): \(count) records exported from \(settings.url.redacted)")
            }
        }

        func validate() throws {
            if let journal, FileManager.default.fileExists(atPath: journal) {
                throw ValidationError("\(journal) exists: export writes a new file")
            }
        }
    }

    /// `journal import`: a file journal into an empty database.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a file journal into an empty PostgreSQL store (migrating from the file journal).",
            discussion: """
                The database is HDP_RETRY_DATABASE_URL, or store.postgres.url of --config; it is \
                migrated first and must hold nothing yet. The file's lock is taken: stop the agent \
                that writes it first. Every record is kept (journal export gives the same lines \
                back), and each task's state, the delivery ids inside the dedup window and the \
                breaker are loaded as a replay of the file would leave them.
                """)
        @Option(help: "YAML configuration file naming the database.") var config: String?
        @Option(help: "The file journal to load.") var journal = "./var/journal.jsonl"

        func run() async throws {
            guard let settings = try JournalCommand.database(config: config, onlyIfPostgres: false) else { return }
            let file: JournalFile
            do {
                file = try JournalFile(path: journal)
            } catch {
                JournalCommand.fail("journal import: \(error.message)", code: error.isLocked ? 3 : 1)
            }
            let bytes = try file.readAll()
            do {
                let report = try await JournalCommand.withDatabase(settings) { store in
                    try await store.migrate()
                    return try await store.importJournal(bytes)
                }
                print(
                    "\(journal): \(report.records) records, \(report.tasks) tasks, \(report.deliveries) delivery ids "
                        + "imported into \(settings.url.redacted)")
            } catch let error as PostgresStore.ImportError {
                JournalCommand.fail("journal import: \(error.description)", code: 1)
            }
        }
    }

    /// The database of `config` (or the environment). With `onlyIfPostgres`, `nil` unless
    /// `store.backend` is `postgres` (the file journal is meant).
    static func database(config: String?, onlyIfPostgres: Bool) throws -> PostgresStoreSettings? {
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(
                file: config, environment: ProcessInfo.processInfo.environment, flags: .init())
        } catch {
            fail("journal: configuration error:\n\(error.description)", code: 2)
        }
        if onlyIfPostgres, configuration.store.backend != .postgres { return nil }
        switch configuration.databaseSettings() {
        case .success(let settings): return settings
        case .failure(let error): fail("journal: \(error.description)", code: 2)
        }
    }

    /// Runs `body` on the database; a database that cannot be reached exits 3.
    static func withDatabase<Result: Sendable>(
        _ settings: PostgresStoreSettings, _ body: (PostgresStore) async throws -> Result
    ) async throws -> Result {
        let logger = Logger(label: "hdp-retry-agent") { _ in SwiftLogNoOpLogHandler() }
        do {
            return try await PostgresStore.withRunning(settings, logger: logger, body)
        } catch let error as PostgresStore.ImportError {
            throw error
        } catch {
            fail("journal: database \(settings.url.redacted): \(PostgresStore.describe(error))", code: 3)
        }
    }

    /// `journal inspect` on the database.
    static func inspectDatabase(_ settings: PostgresStoreSettings, task raw: String?) async throws {
        if let raw {
            guard let id = TaskID(raw) else {
                print(TaskID.problem(with: raw))
                throw ExitCode(1)
            }
            guard let view = try await withDatabase(settings, { await $0.view(of: id) }) else {
                print("task \(id) is not in the database")
                throw ExitCode(1)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
            let answer = TaskAnswer(task: id, entry: view.entry, history: view.history)
            print(String(decoding: try encoder.encode(answer), as: UTF8.self))
            return
        }
        let summary = try await withDatabase(settings) { try await $0.summary() }
        print(
            "database: \(settings.url.redacted)  records: \(summary.records)  tasks: \(summary.tasks)  "
                + "deliveries remembered: \(summary.deliveries)")
        print("breaker: \(summary.breaker.state.rawValue) (trips \(summary.breaker.trips))")
        for state in summary.states.keys.sorted() { print("  \(state): \(summary.states[state]!)") }
    }

    /// Prints `message` to standard error and exits with `code`.
    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        Foundation.exit(code)
    }
}
