import ArgumentParser
import Foundation
import RetryAgent
import RetryCore
import RetryJournal
import RetryRules

extension RulesCommand {
    /// `rules backtest [--rules PATH] [--journal FILE] [--since DURATION] [--format text|json]`:
    /// the failures a journal recorded, decided again with a candidate rule set (SPEC §3).
    struct Backtest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide the failures recorded in a journal again with candidate rules; show what would change.",
            discussion: """
                Reads the journal without taking its lock (it runs beside a live agent) and never \
                changes it. Each failure the rules decided within --since of the journal's last \
                record is decided again with the candidate rules (its recorded status, error and \
                payload); the output counts, per rule and action, how failures were decided before \
                and how they would be now, with the first few of each change. Exit 0 when every \
                failure would be decided as before, 1 when some would not or cannot be decided \
                from their records, 2 when the rules, the journal or an option's value is unusable \
                (64 for a command line that does not parse). A compacted journal keeps no \
                delivery records from before its compaction: those failures are not decided again.
                """
        )

        @Option(help: "Candidate rules file or folder (default: ./rules).")
        var rules: String?

        @Option(help: "Journal file (default: journal.path of --config, else ./var/journal.jsonl).")
        var journal: String?

        @Option(help: "YAML configuration file, for journal.path.")
        var config: String?

        @Option(help: "Failures journaled within this long before the journal's last record (e.g. 24h, 30m).")
        var since = "24h"

        @Option(help: "Output: text or json.")
        var format = "text"

        func run() throws {
            guard format == "text" || format == "json" else { throw usage("--format must be text or json") }
            guard let window = DurationText.parse(since), window > .zero else {
                throw usage("--since '\(since)' must be a positive duration of at most 87600h (500ms, 30s, 10m, 24h)")
            }
            let journalPath = try resolvedJournalPath()
            let rulesPath = rules ?? RulesCommand.defaultPath
            let candidate: RuleSet
            do throws(RulesLoadError) {
                let loaded = try RuleSetLoader.load(path: rulesPath)
                loaded.warnings.forEach { standardError("\($0)") }
                candidate = loaded.ruleSet
            } catch {
                error.diagnostics.forEach { standardError("\($0)") }
                standardError("\(rulesPath): invalid rules; nothing was decided")
                throw ExitCode(2)
            }
            guard FileManager.default.fileExists(atPath: journalPath) else {
                standardError("\(journalPath): no such journal")
                throw ExitCode(2)
            }
            var deliveries: [JournalRecord] = []
            var latest: Date?
            var compactedAt: Date?
            let scan: JournalReader.Scan
            do {
                scan = try JournalReader.scanReadOnly(path: journalPath) { record in
                    latest = max(latest ?? record.time, record.time)
                    switch record.body {
                    case .delivery: deliveries.append(record)
                    case .taskSnapshot, .deliveriesSnapshot: compactedAt = max(compactedAt ?? record.time, record.time)
                    default: break
                    }
                }
            } catch {
                standardError("journal: \(error.message)")
                throw ExitCode(2)
            }
            // Bytes and not one record: whatever this is, it is not a journal.
            if scan.records == 0, !scan.corrupt.isEmpty || scan.tornTail != nil {
                standardError("\(journalPath): not a journal (no line of it reads as a journal record)")
                throw ExitCode(2)
            }
            for bad in scan.corrupt {
                standardError(
                    "\(journalPath):\(bad.line): unreadable record left out (\(bad.problem)); see journal verify")
            }
            if let torn = scan.tornTail {
                standardError(
                    "\(journalPath): the last \(torn.count) bytes are not a whole record (a line being written, or "
                        + "a torn write) and were left out")
            }
            if let compactedAt {
                standardError(
                    "\(journalPath): compacted at \(ISO8601.format(compactedAt)); failures decided before that were "
                        + "folded into task snapshots and are not decided again")
            }
            let start = latest.map { RetryRules.Backtest.windowStart(latest: $0, since: window) }
            let report = RetryRules.Backtest.run(deliveries, candidate: candidate, from: start)
            let context = BacktestReport.Context(rules: rulesPath, journal: journalPath, since: since, latest: latest)
            print(format == "json" ? report.json(context) : report.text(context), terminator: "")
            if !report.isUnchanged { throw ExitCode(1) }
        }

        /// `--journal`, else `journal.path` from `--config` and the environment, else the default.
        private func resolvedJournalPath() throws -> String {
            var overrides = AgentConfiguration.Overrides()
            overrides.journal = journal
            do {
                return try AgentConfiguration.load(
                    file: config, environment: ProcessInfo.processInfo.environment, flags: overrides
                ).journal.path
            } catch {
                standardError("rules backtest: configuration error:\n\(error.description)")
                throw ExitCode(2)
            }
        }

        private func usage(_ message: String) -> ExitCode {
            standardError("rules backtest: \(message)")
            return ExitCode(2)
        }
    }
}

/// Writes a line to standard error (problems and warnings; results go to standard output).
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
