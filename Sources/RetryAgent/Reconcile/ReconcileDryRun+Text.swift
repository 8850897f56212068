import Foundation
import RetryCore

extension ReconcileDryRun.Outcome {
    /// The dry run as the command prints it: a summary line, then one row per failed task — what
    /// the sweep would do with it and why — and the counts of the rest.
    ///
    /// ```
    /// reconcile --dry-run: 2 pages of https://…/tasks (per_page 100), 150 tasks, 3 failed: 1 would be picked up
    /// TASK                        STATUS                 UPDATED                   WOULD                             WHY
    /// 01JPJ03YJT1A93D6NF56G4GVEQ  TraceGenFailed         2026-03-18T10:00:00.000Z  retry (rule transient-network)    missed
    /// 01JNGAGNRNJX4J6ZFXBZ51ZD4H  AtlanticProvingFailed  2026-03-18T09:58:12.410Z  -                                 open_episode
    /// 147 not failed; lookback 24h; journal ./var/journal.jsonl (812 records); breaker closed
    /// ```
    public var text: String {
        var lines: [String] = []
        let pages = report.pages == 1 ? "1 page" : "\(report.pages) pages"
        let search = settings.search.map { ", search \"\($0)\"" } ?? ""
        lines.append(
            "reconcile --dry-run: \(pages) of GET /tasks (per_page \(settings.perPage)\(search)), "
                + "\(report.listed) tasks, \(report.failedTasks) failed: \(report.verdicts[.missed, default: 0]) "
                + "would be picked up")
        switch report.result {
        case .ok: break
        case .failed: lines.append("the sweep FAILED (\(report.stop.rawValue)): \(report.problem ?? "-")")
        case .skipped: lines.append("the sweep stopped early (\(report.stop.rawValue))")
        }
        if report.result == .ok, report.unreadable > 0, let problem = report.problem {
            lines.append("\(report.unreadable) item(s) could not be read: \(problem) (see reconcile.fields)")
        }
        if report.stop == .maxPages {
            lines.append(
                "stopped at reconcile.max_pages (\(settings.maxPages)): tasks on later pages are not looked at")
        }
        if !report.findings.isEmpty {
            let rows = [["TASK", "STATUS", "UPDATED", "WOULD", "WHY"]] + report.findings.map(Self.row)
            let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let cells = row.enumerated().map { column, cell in
                    column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                }
                lines.append(cells.joined(separator: "  "))
            }
        }
        let journal = journalRecords.map { "journal \(journalPath) (\($0) records)" } ?? "no journal at \(journalPath)"
        var tail =
            "\(report.verdicts[.notFailed, default: 0]) not failed; lookback \(DurationText.format(settings.lookback)); "
        tail += "\(journal); breaker \(breaker.state.rawValue)"
        if breaker.state != .closed { tail += " (the live agent skips sweeps while it holds calls back)" }
        lines.append(tail)
        return lines.joined(separator: "\n")
    }

    private static func row(_ finding: SweepReport.Finding) -> [String] {
        var would = "-"
        switch finding.answer {
        case .accepted(let record, _, _):
            switch record.decision {
            case .retryScheduled: would = "retry"
            case .gaveUp: would = "give up"
            case .exhausted: would = "exhausted"
            case .coalesced: would = "join the open episode"
            case .ignored: would = "ignore (\(record.reason.rawValue))"
            }
            if let rule = record.rule, record.reason == .rule { would += " (rule \(rule))" }
        case .duplicate:
            would = "nothing (delivery id seen)"
        case .none:
            break
        }
        return [
            finding.task.rawValue, finding.status, finding.updatedAt.map(ISO8601.format) ?? "-", would,
            finding.verdict.rawValue,
        ]
    }
}
