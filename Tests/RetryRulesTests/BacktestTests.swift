import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

/// `rules backtest`'s pure part: journal records in, what a candidate rule set would change out.
@Suite struct BacktestTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static let current = """
        version: 1
        rules:
          - name: decommitment-results-missing
            match: {status: TaskDecommitmentFailed, error: {regex: "(?i)results (are )?missing"}}
            action: give_up
          - name: prover-unavailable
            match: {error: {contains: unavailable}}
            action: retry
          - name: transient-network
            match: {error: {regex: "(?i)timeout|connection reset"}}
            action: retry
          - name: noise
            match: {status: IgnoredFailed}
            action: ignore
        default: {action: give_up}
        """

    static func rules(_ yaml: String) throws -> RuleSet {
        try RuleSetLoader.load(yaml: yaml, file: "candidate.yaml").ruleSet
    }

    /// A journal made by the real decision function with `current`, one delivery per failure
    /// (distinct tasks), plus a few records the rules did not decide and a non-delivery record.
    static func journal(payloads: Bool = true) throws -> [JournalRecord] {
        let ruleSet = try rules(current)
        let failures: [(status: String, error: String?)] =
            Array(repeating: ("AtlanticProvingFailed", "Atlantic prover unavailable (503)"), count: 5)
            + Array(repeating: ("TraceGenFailed", "rpc timeout"), count: 4)
            + [("TaskDecommitmentFailed", "Results are missing"), ("DryRunFailed", "boom"), ("IgnoredFailed", nil)]
        var records: [JournalRecord] = []
        var entries: [TaskID: TaskEntry] = [:]
        for (index, failure) in failures.enumerated() {
            let task = TaskID("01JPJ03YJT1A93D6NF56G4G\(String(format: "%03d", index))")!
            let time = start.addingTimeInterval(Double(index) * 60)
            let payload: JSONValue = .object([
                "task_id": .string(task.rawValue), "status": .string(failure.status),
                "error": failure.error.map(JSONValue.string) ?? .null, "data": .object(["chain_id": .number(1)]),
            ])
            let notice = FailureNotice(
                taskID: task, status: failure.status, error: failure.error, timestamp: time, payload: payload)
            let input = DeliveryInput(notice: notice, deliveryID: "d\(index)", correlationID: "c")
            guard
                case .record(var delivery) = Decisions.delivery(
                    input, seen: nil, entry: entries[task], now: time, jitter: 0, classify: ruleSet.classify)
            else { continue }
            if !payloads { delivery.payload = nil }
            records.append(
                JournalRecord(seq: UInt64(records.count + 1), time: time, task: task, body: .delivery(delivery)))
            entries[task] = TaskEntry(updatedAt: time)
        }
        // Not decided by the rules: joined an open episode, and a success callback.
        let joined = DeliveryRecord(
            deliveryID: "j", correlationID: "c", status: "TraceGenFailed", error: "rpc timeout", noticeTime: nil,
            decision: .coalesced, reason: .openEpisode, rule: "transient-network", schedule: nil)
        let success = DeliveryRecord(
            deliveryID: "s", correlationID: "c", status: "Finished", error: nil, noticeTime: nil, decision: .ignored,
            reason: .notAFailure, rule: nil, schedule: nil)
        let later = start.addingTimeInterval(3600)
        for delivery in [joined, success] {
            records.append(
                JournalRecord(
                    seq: UInt64(records.count + 1), time: later, task: sampleTask, body: .delivery(delivery)))
        }
        records.append(
            JournalRecord(
                seq: UInt64(records.count + 1), time: later, task: sampleTask,
                body: .attemptStarted(AttemptStarted(attempt: 1, status: "TraceGenFailed", reclassified: nil))))
        return records
    }

    @Test func theSameRulesChangeNothing() throws {
        let report = Backtest.run(try Self.journal(), candidate: try Self.rules(Self.current))
        #expect(report.isUnchanged)
        #expect(report.deliveries == 14)
        #expect(report.decided == 12 && report.unchanged == 12 && report.changed == 0 && report.notDecidable == 0)
        #expect(report.skipped == [.openEpisode: 1, .notAFailure: 1])
        #expect(report.transitions.allSatisfy { !$0.changed })
        #expect(
            Set(report.transitions.map { "\($0.before) \($0.failures)" }) == [
                "prover-unavailable/retry 5", "transient-network/retry 4", "decommitment-results-missing/give_up 1",
                "default/give_up 1", "noise/ignore 1",
            ])
    }

    @Test func aRuleChangedFromRetryToGiveUpMovesExactlyItsFailures() throws {
        let candidate = Self.current.replacingOccurrences(
            of: "match: {error: {contains: unavailable}}\n    action: retry",
            with: "match: {error: {contains: unavailable}}\n    action: give_up")
        #expect(candidate != Self.current)
        let report = Backtest.run(try Self.journal(), candidate: try Self.rules(candidate))
        #expect(!report.isUnchanged)
        #expect(report.changed == 5 && report.unchanged == 7 && report.notDecidable == 0)
        let change = try #require(report.transitions.first)
        #expect(change.changed)
        #expect(change.before == .init(rule: "prover-unavailable", action: .retry))
        #expect(change.after == .init(rule: "prover-unavailable", action: .giveUp))
        #expect(change.failures == 5)
        // The first three, in journal order, with their error text.
        #expect(change.examples.count == Backtest.examplesPerGroup)
        #expect(
            change.examples.map(\.task?.rawValue) == [
                "01JPJ03YJT1A93D6NF56G4G000", "01JPJ03YJT1A93D6NF56G4G001", "01JPJ03YJT1A93D6NF56G4G002",
            ])
        #expect(change.examples.allSatisfy { $0.error == "Atlantic prover unavailable (503)" })
        #expect(report.transitions.dropFirst().allSatisfy { !$0.changed })
    }

    @Test func removingARuleMovesItsFailuresToTheNextMatchOrTheDefault() throws {
        let candidate = Self.current.replacingOccurrences(
            of: "  - name: noise\n    match: {status: IgnoredFailed}\n    action: ignore\n", with: "")
        let report = Backtest.run(try Self.journal(), candidate: try Self.rules(candidate))
        #expect(report.changed == 1)
        let change = try #require(report.transitions.first)
        #expect("\(change.before) → \(change.after)" == "noise/ignore → default/give_up")
        #expect(change.examples.first?.error == nil)
    }

    @Test func theWindowLeavesOlderFailuresOut() throws {
        let candidate = Self.current.replacingOccurrences(of: "action: ignore", with: "action: retry")
        let records = try Self.journal()
        let latest = try #require(records.last).time
        let all = Backtest.run(records, candidate: try Self.rules(candidate))
        #expect(all.changed == 1)
        // The ignored failure was journaled at +11 min, the last record at +60 min.
        let recent = Backtest.run(
            records, candidate: try Self.rules(candidate),
            from: Backtest.windowStart(latest: latest, since: .seconds(30 * 60)))
        #expect(recent.changed == 0 && recent.decided == 0 && recent.deliveries == 2)
        #expect(recent.isUnchanged)
        let wider = Backtest.run(
            records, candidate: try Self.rules(candidate),
            from: Backtest.windowStart(latest: latest, since: .seconds(50 * 60)))
        #expect(wider.changed == 1 && wider.decided == 2)
    }

    /// A candidate rule on a payload path cannot decide a record that has no payload — unless the
    /// decision does not depend on it — and such failures are counted, not guessed.
    @Test func payloadRulesOnRecordsWithoutPayloadsAreNotDecidable() throws {
        let candidate = Self.current.replacingOccurrences(
            of: "  - name: transient-network",
            with: """
                  - name: sepolia-timeouts
                    match: {data.chain_id: 11155111, error: {contains: timeout}}
                    action: give_up
                  - name: transient-network
                """)
        let ruleSet = try Self.rules(candidate)
        #expect(ruleSet.payloadPaths == ["data.chain_id"])
        let old = Backtest.run(try Self.journal(payloads: false), candidate: ruleSet)
        // The timeouts reach the rule: unknown. The prover and decommitment failures are decided
        // by earlier rules; the others fail its `error` test whatever the chain is.
        #expect(old.notDecidable == 4)
        #expect(old.decided == 8 && old.changed == 0)
        #expect(!old.isUnchanged)
        let group = try #require(old.undecided.first)
        #expect(group.before == .init(rule: "transient-network", action: .retry))
        #expect(group.rule == "sepolia-timeouts" && group.path == "data.chain_id" && group.gap == .payloadNotRecorded)
        #expect(group.examples.count == 3)
        // With payloads the chain is known (1, not Sepolia): nothing changes.
        let recorded = Backtest.run(try Self.journal(), candidate: ruleSet)
        #expect(recorded.isUnchanged && recorded.decided == 12)
    }

    @Test func aCutDownPayloadDecidesOnlyThePathsItKept() throws {
        let ruleSet = try Self.rules(
            """
            version: 1
            rules:
              - {name: chain, match: {data.chain_id: 1}, action: give_up}
              - {name: region, match: {data.region: eu}, action: give_up}
            default: {action: retry}
            """)
        let body = JSONValue.object([
            "data": .object(["chain_id": .number(2), "region": .string("eu")]),
            "logs": .string(String(repeating: "x", count: 5000)),
        ])
        let payload = DeliveryPayload.bounded(body, keeping: ["data.chain_id"])
        let delivery = DeliveryRecord(
            deliveryID: "d", correlationID: "c", status: "TraceGenFailed", error: nil, noticeTime: nil,
            decision: .retryScheduled, reason: .rule, rule: "default",
            schedule: EpisodeSchedule(rule: "default", maxAttempts: 3, backoff: .standard, due: Self.start),
            payload: payload)
        let record = JournalRecord(seq: 1, time: Self.start, task: sampleTask, body: .delivery(delivery))
        let report = Backtest.run([record], candidate: ruleSet)
        #expect(report.notDecidable == 1)
        #expect(report.undecided.first?.rule == "region" && report.undecided.first?.gap == .payloadTruncated)
    }

    @Test func exhaustedFailuresCountAsTheRulesRetry() throws {
        let delivery = DeliveryRecord(
            deliveryID: "d", correlationID: "c", status: "TraceGenFailed", error: "rpc timeout", noticeTime: nil,
            decision: .exhausted, reason: .maxAttempts, rule: "transient-network", schedule: nil)
        let record = JournalRecord(seq: 1, time: Self.start, task: sampleTask, body: .delivery(delivery))
        let same = Backtest.run([record], candidate: try Self.rules(Self.current))
        #expect(same.isUnchanged && same.decided == 1)
        #expect(same.transitions.first?.before == .init(rule: "transient-network", action: .retry))
        let stricter = Backtest.run(
            [record],
            candidate: try Self.rules(Self.current.replacingOccurrences(of: "|connection reset", with: "x")))
        #expect(
            "\(stricter.transitions[0].before) → \(stricter.transitions[0].after)"
                == "transient-network/retry → default/give_up")
    }

    @Test func nothingInTheWindowIsNoChange() throws {
        let report = Backtest.run([], candidate: try Self.rules(Self.current))
        #expect(report.isUnchanged && report.deliveries == 0)
        let text = report.text(.init(rules: "r", journal: "j", since: "24h", latest: nil))
        #expect(text.contains("nothing to decide again"))
    }

    @Test func theTextShowsThePairsTheChangesWithExamplesAndTheTotals() throws {
        let candidate = Self.current.replacingOccurrences(
            of: "match: {error: {contains: unavailable}}\n    action: retry",
            with: "match: {error: {contains: unavailable}}\n    action: give_up")
        let records = try Self.journal()
        let latest = try #require(records.last).time
        let report = Backtest.run(records, candidate: try Self.rules(candidate))
        let text = report.text(.init(rules: "rules.candidate", journal: "journal.jsonl", since: "24h", latest: latest))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(
            lines[0]
                == "rules rules.candidate against journal.jsonl, since 24h before its last record (2027-01-15T09:00:00.000Z)"
        )
        #expect(
            lines[1]
                == "14 deliveries in the window (2027-01-15T08:00:00.000Z to 2027-01-15T09:00:00.000Z): "
                + "12 decided by rules; 2 not, left alone (not_a_failure 1, open_episode 1)")
        #expect(lines.contains { $0.hasPrefix("BEFORE") && $0.contains("AFTER") && $0.hasSuffix("FAILURES") })
        let changedRow = try #require(lines.first { $0.hasSuffix("changed") })
        #expect(changedRow.hasPrefix("prover-unavailable/retry"))
        #expect(changedRow.contains("→ prover-unavailable/give_up"))
        #expect(changedRow.contains(" 5  changed"))
        #expect(
            lines.contains(
                "changed: prover-unavailable/retry → prover-unavailable/give_up, 5 failures; the first 3:"))
        #expect(
            lines.contains {
                $0.hasPrefix("  01JPJ03YJT1A93D6NF56G4G000  ")
                    && $0.hasSuffix("  AtlanticProvingFailed  \"Atlantic prover unavailable (503)\"")
            })
        #expect(lines.suffix(2).first == "12 decided again: 7 unchanged, 5 changed; 0 not decidable")
    }

    @Test func theJSONHasAStableShape() throws {
        let candidate = Self.current.replacingOccurrences(
            of: "match: {error: {contains: unavailable}}\n    action: retry",
            with: "match: {error: {contains: unavailable}}\n    action: give_up")
        let records = try Self.journal()
        let report = Backtest.run(records, candidate: try Self.rules(candidate))
        let text = report.json(.init(rules: "r", journal: "j", since: "24h", latest: records.last?.time))
        let object = try #require(try JSONParser.parse(Array(text.utf8)).objectMembers)
        #expect(
            object["rules"] == .string("r") && object["journal"] == .string("j") && object["since"] == .string("24h"))
        #expect(object["from"] == .null)
        #expect(object["deliveries"] == .number(14))
        #expect(object["skipped"] == .object(["open_episode": .number(1), "not_a_failure": .number(1)]))
        #expect(
            object["totals"]
                == .object([
                    "decided": .number(12), "unchanged": .number(7), "changed": .number(5), "not_decidable": .number(0),
                ]))
        guard case .array(let transitions)? = object["transitions"], let first = transitions.first else {
            throw Failure()
        }
        #expect(first[path: "before.rule"] == .string("prover-unavailable"))
        #expect(first[path: "before.action"] == .string("retry"))
        #expect(first[path: "after.action"] == .string("give_up"))
        #expect(first[path: "changed"] == .bool(true) && first[path: "failures"] == .number(5))
        #expect(first[path: "examples.0.task"] == .string("01JPJ03YJT1A93D6NF56G4G000"))
        #expect(first[path: "examples.0.error"] == .string("Atlantic prover unavailable (503)"))
        #expect(first[path: "examples.0.status"] == .string("AtlanticProvingFailed"))
        #expect(object["not_decidable"] == .array([]))
    }

    struct Failure: Error {}
}

extension JSONValue {
    fileprivate var objectMembers: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}
