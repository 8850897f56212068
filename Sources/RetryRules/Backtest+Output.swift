import RetryCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BacktestReport {
    /// What the report is about, for its heading.
    public struct Context: Sendable, Hashable {
        /// The candidate rules' path.
        public var rules: String
        /// The journal's path.
        public var journal: String
        /// `--since` as given (`24h`), `nil` for the whole journal.
        public var since: String?
        /// The journal's last record's time, which the window ends at.
        public var latest: Date?

        public init(rules: String, journal: String, since: String?, latest: Date?) {
            self.rules = rules
            self.journal = journal
            self.since = since
            self.latest = latest
        }
    }

    /// The report for people:
    ///
    /// ```
    /// rules ./rules against ./var/journal.jsonl, since 24h before its last record (2027-01-15T12:00:00.000Z)
    /// 61234 deliveries in the window: 52001 decided by rules, decided again; 9233 not (open_episode 9000, stale 233)
    ///
    /// BEFORE                          AFTER                            FAILURES
    /// prover-unavailable/retry     →  prover-unavailable/give_up           4211  changed
    /// transient-network/retry      →  transient-network/retry             30122
    ///
    /// changed: prover-unavailable/retry → prover-unavailable/give_up, 4211 failures; the first 3:
    ///   01JX65EJZAVAPZZ7WC26YN4YR5  2027-01-15T08:00:00.125Z  AtlanticProvingFailed  "Atlantic prover unavailable"
    ///
    /// 52001 decided again: 47790 unchanged, 4211 changed; 0 not decidable
    /// ```
    public func text(_ context: Context) -> String {
        var lines: [String] = []
        var heading = "rules \(context.rules) against \(context.journal)"
        if let since = context.since, let latest = context.latest {
            heading += ", since \(since) before its last record (\(ISO8601.format(latest)))"
        } else {
            heading += ", every record"
        }
        lines.append(heading)
        var summary = "\(deliveries) \(Self.plural(deliveries, "delivery", "deliveries")) in the window"
        if let first, let last { summary += " (\(ISO8601.format(first)) to \(ISO8601.format(last)))" }
        summary += ": \(decided + notDecidable) decided by rules"
        if skippedCount > 0 {
            let reasons = skipped.sorted {
                $0.value == $1.value ? $0.key.rawValue < $1.key.rawValue : $0.value > $1.value
            }
            .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
            summary += "; \(skippedCount) not, left alone (\(reasons))"
        }
        lines.append(summary)
        if !transitions.isEmpty {
            lines.append("")
            let beforeWidth = max(6, transitions.map { $0.before.description.count }.max() ?? 0)
            let afterWidth = max(5, transitions.map { $0.after.description.count }.max() ?? 0)
            let countWidth = max(8, transitions.map { String($0.failures).count }.max() ?? 0)
            lines.append(
                Self.padded("BEFORE", beforeWidth) + "    " + Self.padded("AFTER", afterWidth) + "  "
                    + Self.leftPadded("FAILURES", countWidth))
            for transition in transitions {
                var line =
                    Self.padded(transition.before.description, beforeWidth) + "  → "
                    + Self.padded(transition.after.description, afterWidth) + "  "
                    + Self.leftPadded(String(transition.failures), countWidth)
                if transition.changed { line += "  changed" }
                lines.append(line)
            }
        }
        for transition in transitions where transition.changed {
            lines.append("")
            lines.append(
                "changed: \(transition.before) → \(transition.after), \(transition.failures) "
                    + "\(Self.plural(transition.failures, "failure", "failures")); \(Self.firstFew(transition.examples)):"
            )
            lines += transition.examples.map(Self.exampleLine)
        }
        for group in undecided {
            lines.append("")
            lines.append(
                "not decidable: \(group.before) → ?, \(group.failures) "
                    + "\(Self.plural(group.failures, "failure", "failures")): rule \(group.rule) reads \(group.path), "
                    + "\(group.gap.text); \(Self.firstFew(group.examples)):")
            lines += group.examples.map(Self.exampleLine)
        }
        lines.append("")
        if decided + notDecidable == 0 {
            lines.append("nothing to decide again: no failure decided by rules in the window")
        } else {
            lines.append(
                "\(decided) decided again: \(unchanged) unchanged, \(changed) changed; \(notDecidable) not decidable")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The report for tools: one JSON object (documented in the README, "rules backtest"):
    ///
    /// ```json
    /// {"rules":"./rules","journal":"…","since":"24h","latest":"…","from":"…","first":"…","last":"…",
    ///  "deliveries":61234,"skipped":{"open_episode":9000},
    ///  "totals":{"decided":52001,"unchanged":47790,"changed":4211,"not_decidable":0},
    ///  "transitions":[{"before":{"rule":"…","action":"retry"},"after":{…},"changed":true,"failures":4211,
    ///                  "examples":[{"task":"…","time":"…","status":"…","error":"…"}]}],
    ///  "not_decidable":[{"before":{…},"rule":"…","path":"data.chain_id","reason":"payload_not_recorded",
    ///                    "failures":12,"examples":[…]}]}
    /// ```
    ///
    /// Times are ISO 8601 UTC with milliseconds; `since`, `latest`, `from`, `first`, `last` and an
    /// example's `task` and `error` are `null` when they do not apply.
    public func json(_ context: Context) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("rules")
        writer.string(context.rules)
        writer.key("journal")
        writer.string(context.journal)
        Self.optional(context.since, "since", into: &writer)
        Self.optional(context.latest.map(ISO8601.format), "latest", into: &writer)
        Self.optional(from.map(ISO8601.format), "from", into: &writer)
        Self.optional(first.map(ISO8601.format), "first", into: &writer)
        Self.optional(last.map(ISO8601.format), "last", into: &writer)
        writer.key("deliveries")
        writer.int(deliveries)
        writer.key("skipped")
        writer.beginObject()
        for (reason, count) in skipped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            writer.key(reason.rawValue)
            writer.int(count)
        }
        writer.endObject()
        writer.key("totals")
        writer.beginObject()
        for (name, value) in [
            ("decided", decided), ("unchanged", unchanged), ("changed", changed), ("not_decidable", notDecidable),
        ] {
            writer.key(name)
            writer.int(value)
        }
        writer.endObject()
        writer.key("transitions")
        writer.beginArray()
        for transition in transitions {
            writer.beginObject()
            Self.write(transition.before, "before", into: &writer)
            Self.write(transition.after, "after", into: &writer)
            writer.key("changed")
            writer.bool(transition.changed)
            writer.key("failures")
            writer.int(transition.failures)
            Self.write(transition.examples, into: &writer)
            writer.endObject()
        }
        writer.endArray()
        writer.key("not_decidable")
        writer.beginArray()
        for group in undecided {
            writer.beginObject()
            Self.write(group.before, "before", into: &writer)
            writer.key("rule")
            writer.string(group.rule)
            writer.key("path")
            writer.string(group.path)
            writer.key("reason")
            writer.string(group.gap.rawValue)
            writer.key("failures")
            writer.int(group.failures)
            Self.write(group.examples, into: &writer)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self) + "\n"
    }

    // MARK: Helpers

    private static func optional(_ value: String?, _ name: String, into writer: inout JSONWriter) {
        writer.key(name)
        if let value { writer.string(value) } else { writer.null() }
    }

    private static func write(_ decision: Decision, _ name: String, into writer: inout JSONWriter) {
        writer.key(name)
        writer.beginObject()
        writer.key("rule")
        writer.string(decision.rule)
        writer.key("action")
        writer.string(decision.action.rawValue)
        writer.endObject()
    }

    private static func write(_ examples: [Example], into writer: inout JSONWriter) {
        writer.key("examples")
        writer.beginArray()
        for example in examples {
            writer.beginObject()
            optional(example.task?.rawValue, "task", into: &writer)
            writer.key("time")
            writer.date(example.time)
            writer.key("status")
            writer.string(example.status)
            optional(example.error, "error", into: &writer)
            writer.endObject()
        }
        writer.endArray()
    }

    /// `  TASK  TIME  STATUS  "error"` (the error quoted, escaped and cut to 100 characters).
    private static func exampleLine(_ example: Example) -> String {
        let error = example.error.map { RuleText.quoted($0, limit: 100) } ?? "(no error text)"
        return
            "  \(example.task?.rawValue ?? "(no task)")  \(ISO8601.format(example.time))  \(RuleText.shown(example.status, limit: 60))  \(error)"
    }

    private static func firstFew(_ examples: [Example]) -> String {
        examples.count == 1 ? "the first" : "the first \(examples.count)"
    }

    private static func plural(_ count: Int, _ one: String, _ many: String) -> String { count == 1 ? one : many }

    private static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    private static func leftPadded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
