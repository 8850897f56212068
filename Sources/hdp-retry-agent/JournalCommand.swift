import ArgumentParser
import Foundation
import RetryAgent
import RetryCore
import RetryJournal

/// `journal verify|compact|inspect|repair|export|import`: offline tools on the file journal (they
/// take its lock, so they refuse to run beside a live agent), and on the PostgreSQL store
/// (`inspect --config`, `export`, `import`), which they share with running agents.
struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Verify, compact, inspect, repair, export or import the journal.",
        subcommands: [Verify.self, Compact.self, Inspect.self, Repair.self, Export.self, Import.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "Journal file.") var journal = "./var/journal.jsonl"
        @Option(name: .customLong("dedup-window"), help: "Dedup window used when folding (e.g. 24h).") var dedupWindow =
            "24h"
    }

    static func open(_ options: Options) throws -> JournalFile {
        do {
            return try JournalFile(path: options.journal)
        } catch {
            FileHandle.standardError.write(Data("journal: \(error.message)\n".utf8))
            throw ExitCode(error.isLocked ? 3 : 1)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record's checksum and order; exit 1 on problems.")
        @OptionGroup var options: Options

        func run() throws {
            let file = try JournalCommand.open(options)
            let bytes = try file.readAll()
            let scan = JournalReader.scan(bytes) { _ in }
            for bad in scan.corrupt { print("\(options.journal):\(bad.line): \(bad.problem)") }
            if let torn = scan.tornTail {
                print("\(options.journal): torn tail of \(torn.count) bytes (cut off at the next start)")
            }
            print(
                "\(options.journal): \(scan.records) records, \(scan.goodLength) bytes, \(scan.corrupt.count) corrupt")
            if !scan.corrupt.isEmpty { throw ExitCode(1) }
        }
    }

    struct Compact: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite the journal as a snapshot of its live state.")
        @OptionGroup var options: Options

        func run() throws {
            let file = try JournalCommand.open(options)
            var ledger = Ledger(dedupWindow: DurationText.parse(options.dedupWindow) ?? .seconds(86_400))
            let before = file.size
            _ = try ledger.replay(file)
            ledger.expireDeliveries(now: Date())
            try file.replace(with: JournalCodec.snapshotBytes(of: ledger, at: Date().roundedToMilliseconds))
            print("\(options.journal): \(before) → \(file.size) bytes, \(ledger.tasks.count) tasks")
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise the journal, or show one task's view and history.",
            discussion: "With --config naming store.backend: postgres, reads the database instead of the file.")
        @OptionGroup var options: Options
        @Option(help: "Show this task (ULID or UUID).") var task: String?
        @Option(help: "YAML configuration file: store.backend: postgres reads the database.") var config: String?

        func run() async throws {
            if let settings = try JournalCommand.database(config: config, onlyIfPostgres: true) {
                try await JournalCommand.inspectDatabase(settings, task: task)
                return
            }
            let file = try JournalCommand.open(options)
            var ledger = Ledger(dedupWindow: DurationText.parse(options.dedupWindow) ?? .seconds(86_400))
            let bytes = try file.readAll()
            let scan = JournalReader.scan(bytes) { ledger.apply($0) }
            if let raw = task {
                guard let id = TaskID(raw) else {
                    print(TaskID.problem(with: raw))
                    throw ExitCode(1)
                }
                guard let entry = ledger.tasks[id] else {
                    print("task \(id) is not in the journal")
                    throw ExitCode(1)
                }
                var history: [JournalRecord] = []
                _ = JournalReader.scan(bytes) { if $0.task == id { history.append($0) } }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
                let answer = TaskAnswer(task: id, entry: entry, history: history)
                print(String(decoding: try encoder.encode(answer), as: UTF8.self))
                return
            }
            var states: [String: Int] = [:]
            for entry in ledger.tasks.values { states[entry.state.rawValue, default: 0] += 1 }
            print(
                "records: \(scan.records)  bytes: \(scan.goodLength)  tasks: \(ledger.tasks.count)  deliveries remembered: \(ledger.deliveries.count)"
            )
            print("breaker: \(ledger.breaker.state.rawValue) (trips \(ledger.breaker.trips))")
            for state in states.keys.sorted() { print("  \(state): \(states[state]!)") }
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set unreadable records aside (into <journal>.corrupt-<ms>) and rewrite the journal without them."
        )
        @OptionGroup var options: Options

        func run() throws {
            let file = try JournalCommand.open(options)
            let bytes = try file.readAll()
            var kept: [UInt8] = []
            let scan = JournalReader.scan(bytes) { kept += JournalCodec.encode($0) }
            guard !scan.corrupt.isEmpty || scan.tornTail != nil else {
                print("\(options.journal): nothing to repair (\(scan.records) records)")
                return
            }
            var aside: [UInt8] = []
            for bad in scan.corrupt { aside += bytes[bad.offset..<min(bytes.count, bad.offset + bad.length + 1)] }
            if let torn = scan.tornTail { aside += bytes[torn] }
            let sidePath = "\(options.journal).corrupt-\(Int64(Date().timeIntervalSince1970 * 1000))"
            try Data(aside).write(to: URL(fileURLWithPath: sidePath))
            try file.replace(with: kept)
            print(
                "\(options.journal): kept \(scan.records) records; set \(scan.corrupt.count) bad line(s) aside in \(sidePath)"
            )
        }
    }
}
