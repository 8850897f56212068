import Foundation
import RetryTesting
import Testing

@testable import RetryCore

@Suite struct LedgerTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Decides and applies a delivery like the engine does, returning the verdict.
    @discardableResult
    func deliver(_ ledger: inout Ledger, _ notice: FailureNotice, id: String, at time: Date) -> DeliveryVerdict {
        let input = DeliveryInput(notice: notice, deliveryID: id, correlationID: "c-\(id)")
        let verdict = ledger.decide(input, now: time, jitter: 0.5, classify: simpleClassifier)
        if case .record(let record) = verdict {
            ledger.apply(
                JournalRecord(seq: ledger.lastSeq + 1, time: time, task: notice.taskID, body: .delivery(record)))
        }
        return verdict
    }

    @Test func firstFailureSchedulesARetryAfterTheInitialBackoff() throws {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        let verdict = deliver(&ledger, notice(), id: "a", at: start)
        guard case .record(let record) = verdict else { Issue.record("expected a record"); return }
        #expect(record.decision == .retryScheduled)
        #expect(record.schedule?.due == start.addingTimeInterval(10))
        #expect(ledger.tasks[sampleTask]?.state == .pending)
    }

    /// The episode lives out of line, but an entry is still a value: changing one copy's episode,
    /// or ending it, leaves the other copy's as it was.
    @Test func taskEntriesKeepValueSemantics() throws {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        let original = try #require(ledger.tasks[sampleTask])
        let episode = try #require(original.episode)
        var copy = original
        copy.episode?.status = "TraceGenFailed"
        copy.episode?.tries += 1
        #expect(original.episode == episode)
        #expect(copy.episode?.status == "TraceGenFailed" && copy.episode?.tries == episode.tries + 1)
        #expect(copy != original)
        var ended = original
        ended.episode = nil
        #expect(ended.episode == nil && original.episode == episode)
        var reopened = ended
        reopened.episode = episode
        #expect(reopened == original && reopened.hashValue == original.hashValue)
        #expect(ended.episode == nil)
    }

    @Test func sameDeliveryIDIsADuplicateWithinTheWindowOnly() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        guard case .duplicate = deliver(&ledger, notice(), id: "a", at: start.addingTimeInterval(3599)) else {
            Issue.record("expected a duplicate inside the window")
            return
        }
        ledger.expireDeliveries(now: start.addingTimeInterval(3601))
        guard case .record(let record) = deliver(&ledger, notice(), id: "a", at: start.addingTimeInterval(3601)) else {
            Issue.record("expected a new delivery after the window")
            return
        }
        #expect(record.decision == .coalesced)
    }

    @Test func secondNoticeForAnOpenEpisodeCoalesces() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        guard case .record(let record) = deliver(&ledger, notice(), id: "b", at: start) else {
            Issue.record("expected a record")
            return
        }
        #expect(record.decision == .coalesced)
        #expect(ledger.openEpisodeCount == 1)
    }

    @Test func noticeOlderThanTheLastAcceptedRetryIsStale() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        let retryTime = start.addingTimeInterval(20)
        ledger.apply(
            JournalRecord(
                seq: 2, time: retryTime, task: sampleTask,
                body: .attemptStarted(AttemptStarted(attempt: 1, status: "AtlanticProvingFailed", reclassified: nil))))
        ledger.apply(
            JournalRecord(
                seq: 3, time: retryTime, task: sampleTask,
                body: .attemptFinished(
                    AttemptFinished(call: .retry, result: .accepted, httpStatus: 200, detail: nil, nextDue: nil))))
        #expect(ledger.tasks[sampleTask]?.state == .ended(.retried))
        #expect(ledger.tasks[sampleTask]?.attempts == 1)
        guard
            case .record(let stale) = deliver(
                &ledger, notice(timestamp: start.addingTimeInterval(5)), id: "b", at: start.addingTimeInterval(30))
        else {
            Issue.record("expected a record")
            return
        }
        #expect(stale.decision == .ignored)
        #expect(stale.reason == .stale)
        guard
            case .record(let fresh) = deliver(
                &ledger, notice(timestamp: start.addingTimeInterval(25)), id: "c", at: start.addingTimeInterval(30))
        else {
            Issue.record("expected a record")
            return
        }
        #expect(fresh.decision == .retryScheduled)
    }

    @Test func taskAtMaxAttemptsIsExhausted() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        var seq: UInt64 = 0
        for attempt in 1...3 {
            let time = start.addingTimeInterval(Double(attempt) * 100)
            deliver(&ledger, notice(), id: "d\(attempt)", at: time)
            seq = ledger.lastSeq
            ledger.apply(
                JournalRecord(
                    seq: seq + 1, time: time, task: sampleTask,
                    body: .attemptStarted(
                        AttemptStarted(attempt: attempt, status: "AtlanticProvingFailed", reclassified: nil))))
            ledger.apply(
                JournalRecord(
                    seq: seq + 2, time: time, task: sampleTask,
                    body: .attemptFinished(
                        AttemptFinished(call: .retry, result: .accepted, httpStatus: 200, detail: nil, nextDue: nil))))
        }
        guard case .record(let record) = deliver(&ledger, notice(), id: "d4", at: start.addingTimeInterval(1000)) else {
            Issue.record("expected a record")
            return
        }
        #expect(record.decision == .exhausted)
        #expect(ledger.tasks[sampleTask]?.state == .ended(.exhausted))
    }

    @Test func rulesDecideGiveUpAndIgnore() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        guard case .record(let gaveUp) = deliver(&ledger, notice(status: "TaskDecommitmentFailed"), id: "a", at: start),
            case .record(let ignored) = deliver(
                &ledger, notice(TaskID("01JPJ03YJT1A93D6NF56G4GVEA")!, status: "IgnoredFailed"), id: "b", at: start),
            case .record(let success) = deliver(
                &ledger, notice(status: "TaskDecommitmentCompleted"), id: "c", at: start)
        else {
            Issue.record("expected records")
            return
        }
        #expect(gaveUp.decision == .gaveUp)
        #expect(ignored.decision == .ignored)
        #expect(success.decision == .ignored)
        #expect(success.reason == .notAFailure)
    }

    @Test func dueQueueHandsOutEachTaskOnceUntilRescheduled() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        #expect(ledger.takeDue(now: start.addingTimeInterval(5), limit: 10).isEmpty)
        #expect(ledger.takeDue(now: start.addingTimeInterval(10), limit: 10) == [sampleTask])
        #expect(ledger.takeDue(now: start.addingTimeInterval(11), limit: 10).isEmpty)
        ledger.putBack(sampleTask)
        #expect(ledger.takeDue(now: start.addingTimeInterval(11), limit: 10) == [sampleTask])
    }

    @Test func statusCheckDecisions() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        let now = start.addingTimeInterval(10)
        func verdict(_ outcome: HDPStatusOutcome?) -> StatusVerdict? {
            ledger.decideAfterStatus(
                of: sampleTask, outcome: outcome, now: now, jitter: 0, retryAfterCap: .seconds(3600),
                classify: simpleClassifier)
        }
        #expect(
            verdict(.status(TaskStatusInfo(status: "Received", errorMessage: nil, updatedAt: nil)))
                == .end(
                    EpisodeEnded(
                        outcome: .superseded, reason: .statusNotFailed, status: "Received", rule: "transient",
                        countsAttempt: false)))
        #expect(
            verdict(.failure(.notFound))
                == .end(
                    EpisodeEnded(
                        outcome: .notFound, reason: .statusCheck, status: nil, rule: "transient", countsAttempt: false
                    )))
        #expect(
            verdict(
                .status(TaskStatusInfo(status: "AtlanticProvingFailed", errorMessage: "prover timeout", updatedAt: nil))
            )
                == .call(AttemptStarted(attempt: 1, status: "AtlanticProvingFailed", reclassified: nil)))
        // A fresher status that the rules give up on ends the episode.
        #expect(
            verdict(
                .status(
                    TaskStatusInfo(status: "TaskDecommitmentFailed", errorMessage: "results missing", updatedAt: nil)))
                == .end(
                    EpisodeEnded(
                        outcome: .gaveUp, reason: .reclassified, status: "TaskDecommitmentFailed",
                        rule: "decommitment", countsAttempt: false)))
        guard case .later(let later) = verdict(.failure(.serverError(httpStatus: 503))) else {
            Issue.record("expected a postponement")
            return
        }
        #expect(later.result == .serverError)
        #expect(later.nextDue == now.addingTimeInterval(20))
    }

    @Test func retryAfterIsHonouredAndCapped() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        deliver(&ledger, notice(), id: "a", at: start)
        let finished = ledger.decideAfterCall(
            of: sampleTask, outcome: .rateLimited(retryAfter: .seconds(7200)), now: start, jitter: 0,
            retryAfterCap: .seconds(600))
        #expect(finished?.nextDue == start.addingTimeInterval(600))
        let short = ledger.decideAfterCall(
            of: sampleTask, outcome: .rateLimited(retryAfter: .seconds(1)), now: start, jitter: 0,
            retryAfterCap: .seconds(600))
        #expect(short?.nextDue == start.addingTimeInterval(20), "the backoff wins when it is longer than Retry-After")
    }

    @Test func rebuildingTheDueQueueKeepsExactlyTheOpenEpisodes() {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        let tasks = ["01JPJ03YJT1A93D6NF56G4GVA1", "01JPJ03YJT1A93D6NF56G4GVA2", "01JPJ03YJT1A93D6NF56G4GVA3"].map {
            TaskID($0)!
        }
        for (offset, task) in tasks.enumerated() {
            deliver(&ledger, notice(task), id: "d\(offset)", at: start.addingTimeInterval(Double(offset)))
        }
        // One episode ends; another is rescheduled twice (leaving stale queue entries behind).
        ledger.apply(
            JournalRecord(
                seq: ledger.lastSeq + 1, time: start, task: tasks[0],
                body: .episodeEnded(
                    EpisodeEnded(
                        outcome: .superseded, reason: .statusNotFailed, status: "Received", rule: "transient",
                        countsAttempt: false))))
        for minutes in [5.0, 9.0] {
            ledger.apply(
                JournalRecord(
                    seq: ledger.lastSeq + 1, time: start, task: tasks[1],
                    body: .attemptFinished(
                        AttemptFinished(
                            call: .status, result: .timeout, httpStatus: nil, detail: nil,
                            nextDue: start.addingTimeInterval(minutes * 60)))))
        }
        var rebuilt = ledger
        rebuilt.rebuildDueQueue()
        let later = start.addingTimeInterval(3600)
        #expect(rebuilt.nextDue() == ledger.nextDue())
        #expect(rebuilt.takeDue(now: later, limit: 10) == [tasks[2], tasks[1]])
        #expect(ledger.takeDue(now: later, limit: 10) == [tasks[2], tasks[1]])
    }
}
