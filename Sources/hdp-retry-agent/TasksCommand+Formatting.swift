import Foundation
import RetryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Formatting (pure: the answer, the time and the width in, lines out)

/// `tasks list`'s table. Columns are as wide as their widest value; the rule is cut at 24
/// characters and the last error gets what is left of `width` (at least 12), so a line of ULIDs
/// fits 100 columns:
///
/// ```
/// TASK                        STATE    ATTEMPTS  RULE               NEXT DUE     LAST ERROR
/// 01JPJ03YJT1A93D6NF56G4GVEQ  pending  1/3       transient-network  2m overdue   prover timeout
/// ```
///
/// Ended tasks have no episode in the list (no rule, due time or error): for them the columns are
/// TASK, STATE, ATTEMPTS, LAST ACCEPTED and UPDATED, and `tasks show ID` has the rest.
enum TaskTable {
    static let ruleWidth = 24
    static let minimumErrorWidth = 12

    static func render(_ listing: TaskListing, limit: Int, now: Date, width: Int) -> [String] {
        guard !listing.tasks.isEmpty else { return ["no task is \(listing.state)"] }
        let open = listing.state == "pending" || listing.state == "in_flight"
        let header: [String]
        let rows: [[String]]
        if open {
            header = ["TASK", "STATE", "ATTEMPTS", "RULE", "NEXT DUE", "LAST ERROR"]
            rows = listing.tasks.map { task in
                [
                    task.taskID, task.state, attempts(task), Text.cut(task.episode?.rule ?? "-", to: ruleWidth),
                    nextDue(task, now: now), Text.oneLine(task.episode?.error ?? "-"),
                ]
            }
        } else {
            // An ended task has no episode in the list: its rule and errors are in `tasks show ID`.
            header = ["TASK", "STATE", "ATTEMPTS", "LAST ACCEPTED", "UPDATED"]
            rows = listing.tasks.map { task in
                [
                    task.taskID, task.state, attempts(task),
                    task.lastAcceptedAt.map { RelativeTime.ago($0, now: now) } ?? "-",
                    RelativeTime.ago(task.updatedAt, now: now),
                ]
            }
        }
        var widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        let fixed = widths.dropLast().reduce(0, +) + 2 * (widths.count - 1)
        widths[widths.count - 1] = max(minimumErrorWidth, width - fixed)
        var lines = ([header] + rows).map { cells in
            cells.indices.map { column in
                column == cells.count - 1
                    ? Text.cut(cells[column], to: widths[column]) : Text.pad(cells[column], to: widths[column])
            }.joined(separator: "  ")
        }
        let noun = listing.count == 1 ? "task" : "tasks"
        var footer = "\(listing.count) \(listing.state) \(noun)"
        footer += open ? ", most overdue first" : ", most recently changed first"
        if listing.count >= limit { footer += "; the first \(limit) only (--limit N shows more)" }
        lines.append(footer)
        return lines
    }

    /// Accepted retries, out of the rule's `max_attempts` while an episode is open.
    static func attempts(_ task: TaskSummary) -> String {
        guard let episode = task.episode else { return "\(task.attempts)" }
        return "\(task.attempts)/\(episode.maxAttempts)"
    }

    /// `in 2m`, `3m overdue`, `now`, or `in flight` while a call is being made.
    static func nextDue(_ task: TaskSummary, now: Date) -> String {
        if task.episode?.inFlightAttempt != nil || task.state == "in_flight" { return "in flight" }
        guard let due = task.episode?.due else { return "-" }
        return RelativeTime.due(due, now: now)
    }
}

/// `tasks show`'s view: the task's fields, then its history one record per line.
///
/// ```
/// task         01JPJ03YJT1A93D6NF56G4GVEQ
/// state        pending
/// ...
/// history: 2 records, oldest first (times UTC, 2027)
/// SEQ  TIME            TYPE              WHAT
/// 1    01-15 08:00:00  delivery          retry_scheduled by transient-network, due +10s, AtlanticProv…
/// 4    01-15 08:00:10  attempt_finished  status server_error (HTTP 503), next due +39s
/// ```
enum TaskDetail {
    static func render(_ task: TaskSummary, history: [JSONValue], now: Date, width: Int) -> [String] {
        var fields: [(String, String)] = [("task", task.taskID), ("state", task.state)]
        var attempts = "\(task.attempts) accepted"
        if let last = task.lastAcceptedAt { attempts += "; last \(last) (\(RelativeTime.ago(last, now: now)))" }
        fields.append(("attempts", attempts))
        fields.append(("updated", "\(task.updatedAt) (\(RelativeTime.ago(task.updatedAt, now: now)))"))
        if let episode = task.episode {
            fields.append(("rule", "\(episode.rule) (at most \(episode.maxAttempts) accepted retries)"))
            if let attempt = episode.inFlightAttempt {
                fields.append(("next due", "in flight: attempt \(attempt) (was due \(episode.due))"))
            } else {
                fields.append(("next due", "\(episode.due) (\(RelativeTime.due(episode.due, now: now)))"))
            }
            fields.append(("status", Text.oneLine(episode.status)))
            fields.append(("last error", Text.oneLine(episode.error ?? "-")))
            fields.append(("tries", "\(episode.tries) this episode"))
            fields.append(("correlation", episode.correlationID))
        } else {
            fields.append(("episode", "none open"))
        }
        let labelWidth = fields.map(\.0.count).max() ?? 0
        var lines = fields.map { Text.pad($0.0, to: labelWidth) + "  " + $0.1 }
        lines.append("")
        guard !history.isEmpty else {
            lines.append("history: none kept (compacted away)")
            return lines
        }
        // Times are the journal's (UTC); within one year they are shown without the year and the
        // milliseconds, which leaves the record's description 60 columns at a width of 100.
        let times = history.map { record in record[path: "time"].map(HistoryText.scalar) ?? "-" }
        let years = Set(times.map { $0.prefix(4) })
        let short = years.count == 1 && times.allSatisfy { $0.count == 24 && Array($0)[10] == "T" }
        let shown = short ? times.map { String(Array($0)[5..<10]) + " " + String(Array($0)[11..<19]) } : times
        let noun = history.count == 1 ? "record" : "records"
        let zone = short ? "UTC, \(years.first!)" : "UTC"
        lines.append("history: \(history.count) \(noun), oldest first (times \(zone))")
        let rows = zip(history, shown).map { record, time in
            [
                record[path: "seq"].map(HistoryText.scalar) ?? "-", time,
                record[path: "type"].map(HistoryText.scalar) ?? "-", HistoryText.describe(record),
            ]
        }
        let header = ["SEQ", "TIME", "TYPE", "WHAT"]
        let widths = header.indices.dropLast().map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        let whatWidth = max(40, width - widths.reduce(0, +) - 2 * widths.count)
        for cells in [header] + rows {
            let leading = widths.indices.map { Text.pad(cells[$0], to: widths[$0]) }
            lines.append((leading + [Text.cut(cells[3], to: whatWidth)]).joined(separator: "  "))
        }
        return lines
    }
}

/// One journal record's `data` in a few words, by record type; a type this build does not know
/// is shown as its fields.
enum HistoryText {
    static func describe(_ record: JSONValue) -> String {
        let data = record[path: "data"] ?? .object([:])
        func text(_ key: String) -> String? {
            guard let value = data[path: key], value != .null else { return nil }
            return scalar(value)
        }
        let time = record[path: "time"].flatMap { value -> Date? in
            guard case .string(let text) = value else { return nil }
            return ISO8601.parse(text)
        }
        /// A due time written relative to the record (`+13s`), which reads without a clock.
        func relative(_ key: String) -> String? {
            guard let due = text(key) else { return nil }
            guard let time, let date = ISO8601.parse(due) else { return due }
            let seconds = date.timeIntervalSince(time)
            return seconds < 0 ? "-" + RelativeTime.span(-seconds) : "+" + RelativeTime.span(seconds)
        }
        var parts: [String] = []
        switch record[path: "type"].map(scalar) {
        case "delivery":
            var what = text("decision") ?? "decided"
            if let rule = text("rule") { what += " by \(rule)" }
            if let reason = text("reason"), reason != "rule" { what += " (\(reason))" }
            parts.append(what)
            if let due = relative("schedule.due") { parts.append("due \(due)") }
            if let source = text("source"), source != "webhook" { parts.append("from \(source)") }
            parts.append(failure(status: text("status"), error: text("error")))
        case "attempt_started":
            parts.append("attempt \(text("attempt") ?? "?")")
            if let status = text("status") { parts.append("status \(status)") }
            if let rule = text("reclassified.rule") { parts.append("reclassified: \(rule)") }
        case "attempt_finished":
            var what = "\(text("call") ?? "call") \(text("result") ?? "?")"
            if let code = text("http_status") { what += " (HTTP \(code))" }
            parts.append(what)
            if let due = relative("next_due") { parts.append("next due \(due)") }
            if let detail = text("detail") { parts.append(detail) }
        case "episode_ended":
            var what = "ended \(text("outcome") ?? "?")"
            if let reason = text("reason") { what += " (\(reason))" }
            parts.append(what)
            if let status = text("status") { parts.append("status \(status)") }
            if text("counts_attempt") == "true" { parts.append("counts as an attempt") }
        case "task_snapshot":
            parts.append("snapshot: \(text("state") ?? "?"), \(text("attempts") ?? "0") accepted")
        default:
            guard case .object(let members) = data else { return scalar(data) }
            parts = members.keys.sorted().map { "\($0)=\(scalar(members[$0]!))" }
            return Text.oneLine(parts.joined(separator: " "))
        }
        return Text.oneLine(parts.filter { !$0.isEmpty }.joined(separator: ", "))
    }

    /// `Status: error`, the way a person reads a failure.
    static func failure(status: String?, error: String?) -> String {
        switch (status, error) {
        case (let status?, let error?): "\(status): \(error)"
        case (let status?, nil): status
        case (nil, let error?): error
        case (nil, nil): ""
        }
    }

    /// A JSON value as text: strings bare, whole numbers without a fraction, containers as JSON.
    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .number(let number):
            number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .string(let text): text
        case .array(let items): "[" + items.map(scalar).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.keys.sorted().map { "\($0):\(scalar(members[$0]!))" }.joined(separator: ",") + "}"
        }
    }
}

/// Durations as a person says them: `45s`, `2m10s`, `12m`, `1h5m`, `26h`, `3d4h`.
///
/// Two units while the larger is under 10, one after that:
///
/// | seconds | text |
/// |---|---|
/// | 45 | 45s |
/// | 130 | 2m10s |
/// | 720 | 12m |
/// | 3900 | 1h5m |
/// | 93600 | 26h |
/// | 273600 | 3d4h |
enum RelativeTime {
    static func span(_ seconds: Double) -> String {
        let total = Int(max(0, seconds).rounded())
        func pair(_ big: Int, _ bigUnit: String, _ small: Int, _ smallUnit: String) -> String {
            big < 10 && small != 0 ? "\(big)\(bigUnit)\(small)\(smallUnit)" : "\(big)\(bigUnit)"
        }
        if total < 60 { return "\(total)s" }
        if total < 3600 { return pair(total / 60, "m", total % 60, "s") }
        if total < 48 * 3600 { return pair(total / 3600, "h", total % 3600 / 60, "m") }
        return pair(total / 86400, "d", total % 86400 / 3600, "h")
    }

    /// `in 2m`, `3m overdue`, or `now` within a second.
    static func due(_ text: String, now: Date) -> String {
        guard let date = ISO8601.parse(text) else { return text }
        let seconds = date.timeIntervalSince(now)
        if abs(seconds) < 1 { return "now" }
        return seconds > 0 ? "in \(span(seconds))" : "\(span(-seconds)) overdue"
    }

    /// `5m ago` (or `in 5m` for a clock that runs behind the agent's).
    static func ago(_ text: String, now: Date) -> String {
        guard let date = ISO8601.parse(text) else { return text }
        let seconds = now.timeIntervalSince(date)
        if abs(seconds) < 1 { return "just now" }
        return seconds > 0 ? "\(span(seconds)) ago" : "in \(span(-seconds))"
    }
}

/// Cutting and padding cells (by characters: task ids, states and rule names are ASCII).
enum Text {
    /// `text` in at most `width` characters, ending in `…` when cut.
    static func cut(_ text: String, to width: Int) -> String {
        guard text.count > width else { return text }
        guard width > 1 else { return String(text.prefix(width)) }
        return String(text.prefix(width - 1)) + "…"
    }

    static func pad(_ text: String, to width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// Control characters and runs of white space (a multi-line error from HDP) as one space.
    static func oneLine(_ text: String) -> String {
        var result = ""
        var pendingSpace = false
        for character in text {
            // Whitespace, and anything that would act on the terminal instead of showing (a
            // control, a bidirectional override: the text is what a sender wrote), is a space.
            if character.isWhitespace || character.unicodeScalars.contains(where: TerminalText.isUnsafe) {
                pendingSpace = !result.isEmpty
                continue
            }
            if pendingSpace { result.append(" ") }
            pendingSpace = false
            result.append(character)
        }
        return result
    }
}

/// How wide to make tables: `$COLUMNS`, else the terminal's width, else 100 (a pipe or a file).
enum TerminalWidth {
    static func current() -> Int {
        if let text = ProcessInfo.processInfo.environment["COLUMNS"], let columns = Int(text), columns >= 40 {
            return columns
        }
        var size = winsize()
        if isatty(STDOUT_FILENO) == 1, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 40 {
            return Int(size.ws_col)
        }
        return 100
    }
}
