import RetryCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `rules backtest`: the failures a journal recorded, decided again with a candidate rule set.
///
/// A delivery the rules decided (reason `rule`, or `max_attempts`: the rules said `retry` and the
/// task had used its attempts) is rebuilt into the event the rules saw — the recorded status and
/// error, the payload its record kept — and classified with the candidate set. The rule and
/// action it was decided with before (from the record) and the ones it would get now are counted
/// per pair. Deliveries the rules did not decide (joined to an open episode, stale, not a
/// failure, already decided) are counted and left alone. A failure whose new decision depends on
/// a payload path the record does not hold (written before records kept payloads, or a body cut
/// down to the paths the rules of its day read) is counted as not decidable, never guessed.
///
/// Pure: records in, a report out. Reading the journal (without its lock) is the command's.
public enum Backtest {
    /// Example failures kept per group.
    public static let examplesPerGroup = 3

    /// Decides again every delivery among `records` at or after `start` (all of them when `nil`);
    /// records of other types are ignored.
    public static func run(
        _ records: some Sequence<JournalRecord>, candidate: RuleSet, from start: Date? = nil
    ) -> BacktestReport {
        var report = BacktestReport(from: start)
        // Without payload paths to read, no payload needs parsing.
        let readsPayload = !candidate.payloadPaths.isEmpty
        var transitions: [BacktestReport.Transition.Key: Int] = [:]
        var undecided: [BacktestReport.Undecided.Key: Int] = [:]
        for record in records {
            guard case .delivery(let delivery) = record.body else { continue }
            if let start, record.time < start { continue }
            report.deliveries += 1
            report.first = report.first ?? record.time
            report.last = record.time
            guard let before = previousDecision(of: delivery) else {
                report.skipped[delivery.reason, default: 0] += 1
                continue
            }
            let example = BacktestReport.Example(
                task: record.task, time: record.time, status: delivery.status, error: delivery.error)
            let payload = delivery.payload
            let event = RuleEvent(
                taskID: record.task?.rawValue ?? "", status: delivery.status, error: delivery.error,
                payload: readsPayload ? (payload?.value ?? .object([:])) : .object([:]))
            switch candidate.classify(event, knows: { payload?.knows(path: $0) ?? false }) {
            case .decided(let classification):
                let key = BacktestReport.Transition.Key(
                    before: before,
                    after: BacktestReport.Decision(rule: classification.rule, action: classification.action))
                if let index = transitions[key] {
                    report.transitions[index].add(example)
                } else {
                    transitions[key] = report.transitions.count
                    report.transitions.append(BacktestReport.Transition(key: key, first: example))
                }
            case .unknown(let rule, let path):
                let key = BacktestReport.Undecided.Key(
                    before: before, rule: rule, path: path,
                    gap: payload == nil ? .payloadNotRecorded : .payloadTruncated)
                if let index = undecided[key] {
                    report.undecided[index].add(example)
                } else {
                    undecided[key] = report.undecided.count
                    report.undecided.append(BacktestReport.Undecided(key: key, first: example))
                }
            }
        }
        report.transitions.sort { lhs, rhs in
            if lhs.changed != rhs.changed { return lhs.changed }
            if lhs.failures != rhs.failures { return lhs.failures > rhs.failures }
            return (lhs.before, lhs.after) < (rhs.before, rhs.after)
        }
        report.undecided.sort { lhs, rhs in
            if lhs.failures != rhs.failures { return lhs.failures > rhs.failures }
            return (lhs.before, lhs.rule, lhs.path) < (rhs.before, rhs.rule, rhs.path)
        }
        return report
    }

    /// The rule and action a delivery was decided with, when the rules decided it.
    static func previousDecision(of delivery: DeliveryRecord) -> BacktestReport.Decision? {
        let rule = delivery.rule ?? DefaultRule.name
        switch (delivery.reason, delivery.decision) {
        case (.rule, .retryScheduled), (.maxAttempts, .exhausted): return .init(rule: rule, action: .retry)
        case (.rule, .gaveUp): return .init(rule: rule, action: .giveUp)
        case (.rule, .ignored): return .init(rule: rule, action: .ignore)
        default: return nil
        }
    }

    /// The start of the window `since` long that ends at `latest` (the journal's last record).
    public static func windowStart(latest: Date, since: Duration) -> Date {
        latest.addingTimeInterval(-since.secondsDouble)
    }
}

/// What ``Backtest/run(_:candidate:from:)`` found.
public struct BacktestReport: Sendable, Hashable {
    /// A rule and its action: `transient-network/retry`.
    public struct Decision: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var rule: String
        public var action: RuleAction

        public init(rule: String, action: RuleAction) {
            self.rule = rule
            self.action = action
        }

        public var description: String { "\(rule)/\(action.rawValue)" }

        public static func < (lhs: Decision, rhs: Decision) -> Bool {
            (lhs.rule, lhs.action.rawValue) < (rhs.rule, rhs.action.rawValue)
        }
    }

    /// One failure, as the journal recorded it.
    public struct Example: Sendable, Hashable {
        public var task: TaskID?
        /// When the delivery was journaled.
        public var time: Date
        public var status: String
        public var error: String?
    }

    /// Failures decided before with one rule and action and now with another (or the same).
    public struct Transition: Sendable, Hashable {
        struct Key: Hashable {
            var before: Decision
            var after: Decision
        }

        public var before: Decision
        public var after: Decision
        public var failures: Int
        /// The first few, in journal order.
        public var examples: [Example]

        /// Whether the candidate decides these failures differently.
        public var changed: Bool { before != after }

        init(key: Key, first: Example) {
            before = key.before
            after = key.after
            failures = 1
            examples = [first]
        }

        mutating func add(_ example: Example) {
            failures += 1
            if examples.count < Backtest.examplesPerGroup { examples.append(example) }
        }
    }

    /// Why a failure's record is not enough to decide it again.
    public enum Gap: String, Sendable, Hashable {
        /// The record was written before delivery records kept the body.
        case payloadNotRecorded = "payload_not_recorded"
        /// The body was over the bound and cut down to paths that do not include this one.
        case payloadTruncated = "payload_truncated"

        /// For people.
        public var text: String {
            switch self {
            case .payloadNotRecorded: "payload not recorded (journaled before records kept it)"
            case .payloadTruncated: "payload truncated (the body was over 4 KiB; this path was not kept)"
            }
        }
    }

    /// Failures the candidate cannot decide from their records.
    public struct Undecided: Sendable, Hashable {
        struct Key: Hashable {
            var before: Decision
            var rule: String
            var path: String
            var gap: Gap
        }

        public var before: Decision
        /// The candidate rule whose match depends on the missing path.
        public var rule: String
        /// The payload path it reads.
        public var path: String
        public var gap: Gap
        public var failures: Int
        public var examples: [Example]

        init(key: Key, first: Example) {
            before = key.before
            rule = key.rule
            path = key.path
            gap = key.gap
            failures = 1
            examples = [first]
        }

        mutating func add(_ example: Example) {
            failures += 1
            if examples.count < Backtest.examplesPerGroup { examples.append(example) }
        }
    }

    /// The window's start (`nil`: the whole journal).
    public var from: Date?
    /// The first and last delivery in the window.
    public var first: Date?
    public var last: Date?
    /// Delivery records in the window.
    public var deliveries = 0
    /// Deliveries the rules did not decide, by reason (`open_episode`, `stale`, …): not decided again.
    public var skipped: [DeliveryReason: Int] = [:]
    /// Changed pairs first, then by count.
    public var transitions: [Transition] = []
    /// Failures that could not be decided again, largest groups first.
    public var undecided: [Undecided] = []

    init(from: Date?) {
        self.from = from
    }

    /// Failures decided again.
    public var decided: Int { transitions.reduce(0) { $0 + $1.failures } }
    /// Failures decided again with a different rule or action.
    public var changed: Int { transitions.reduce(0) { $0 + ($1.changed ? $1.failures : 0) } }
    /// Failures decided again with the same rule and action.
    public var unchanged: Int { decided - changed }
    /// Failures that could not be decided again.
    public var notDecidable: Int { undecided.reduce(0) { $0 + $1.failures } }
    /// Deliveries not decided by the rules.
    public var skippedCount: Int { skipped.values.reduce(0, +) }

    /// Whether the candidate is known to decide every failure in the window as before: nothing
    /// changed and nothing was left undecided (the command's exit status 0).
    public var isUnchanged: Bool { changed == 0 && notDecidable == 0 }
}
