import Foundation
import RetryTesting
import Testing

@testable import RetryCore

/// Which listed tasks are missed failures, the delivery a missed failure becomes, and how a sweep
/// and a webhook for one failure meet in the ledger — on explicit times.
@Suite struct ReconciliationTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let day = Duration.seconds(86_400)

    func listed(
        _ task: TaskID = sampleTask, status: String = "AtlanticProvingFailed", error: String? = "prover timeout",
        at time: Date?
    ) -> ListedTask {
        var item: [String: JSONValue] = ["id": .string(task.rawValue), "status": .string(status)]
        if let time { item["updatedAt"] = .string(ISO8601.format(time)) }
        return ListedTask(taskID: task, status: status, error: error, updatedAt: time, item: .object(item))
    }

    /// Decides and applies a delivery as the engine does; returns the record, if one was made.
    @discardableResult
    func deliver(_ ledger: inout Ledger, _ input: DeliveryInput, at time: Date) -> DeliveryRecord? {
        guard case .record(let record) = ledger.decide(input, now: time, jitter: 0.5, classify: simpleClassifier)
        else { return nil }
        ledger.apply(
            JournalRecord(seq: ledger.lastSeq + 1, time: time, task: input.notice.taskID, body: .delivery(record)))
        return record
    }

    func webhook(
        _ task: TaskID = sampleTask, status: String = "AtlanticProvingFailed", sentAt: Date?, id: String
    )
        -> DeliveryInput
    {
        DeliveryInput(
            notice: notice(task, status: status, timestamp: sentAt), deliveryID: id, correlationID: "c-\(id)")
    }

    func sweep(_ task: ListedTask) throws -> DeliveryInput {
        try #require(Reconciliation.delivery(for: task, correlationID: "sweep"))
    }

    /// Accepts the retry of the task's open episode at `time`.
    func retryAccepted(_ ledger: inout Ledger, _ task: TaskID = sampleTask, at time: Date) {
        ledger.apply(
            JournalRecord(
                seq: ledger.lastSeq + 1, time: time, task: task,
                body: .attemptStarted(AttemptStarted(attempt: 1, status: "AtlanticProvingFailed", reclassified: nil))))
        ledger.apply(
            JournalRecord(
                seq: ledger.lastSeq + 1, time: time, task: task,
                body: .attemptFinished(
                    AttemptFinished(call: .retry, result: .accepted, httpStatus: 200, detail: nil, nextDue: nil))))
    }

    // MARK: Verdicts

    @Test func verdictsOnExplicitTimes() {
        let failedAt = start
        let now = start.addingTimeInterval(600)
        func verdict(_ task: ListedTask, _ entry: TaskEntry?) -> ReconcileVerdict {
            Reconciliation.verdict(for: task, entry: entry, now: now, lookback: day)
        }
        // Never seen: missed.
        #expect(verdict(listed(at: failedAt), nil) == .missed)
        // Not a failure, no time, too old.
        #expect(verdict(listed(status: "Received", at: failedAt), nil) == .notFailed)
        #expect(verdict(listed(status: "dryrunfailed", at: failedAt), nil) == .missed)
        #expect(verdict(listed(at: nil), nil) == .noTime)
        #expect(verdict(listed(at: now.addingTimeInterval(-86_400.001)), nil) == .tooOld)
        #expect(verdict(listed(at: now.addingTimeInterval(-86_400)), nil) == .missed)

        // An open episode.
        var ledger = Ledger(dedupWindow: day)
        deliver(&ledger, webhook(sentAt: failedAt, id: "w1"), at: failedAt.addingTimeInterval(1))
        #expect(verdict(listed(at: failedAt), ledger.tasks[sampleTask]) == .openEpisode)
        // Retried: the failure is stale; a later failure (the re-run failed again) is missed.
        retryAccepted(&ledger, at: failedAt.addingTimeInterval(30))
        #expect(verdict(listed(at: failedAt), ledger.tasks[sampleTask]) == .stale)
        #expect(verdict(listed(at: failedAt.addingTimeInterval(300)), ledger.tasks[sampleTask]) == .missed)

        // Given up on: the failure was decided; one after the decision is missed.
        var gaveUp = Ledger(dedupWindow: day)
        deliver(
            &gaveUp, webhook(status: "TaskDecommitmentFailed", sentAt: failedAt, id: "w2"),
            at: failedAt.addingTimeInterval(1))
        let entry = gaveUp.tasks[sampleTask]
        #expect(entry?.state == .ended(.gaveUp))
        #expect(verdict(listed(status: "TaskDecommitmentFailed", at: failedAt), entry) == .alreadyDecided)
        #expect(
            verdict(listed(status: "TaskDecommitmentFailed", at: failedAt.addingTimeInterval(1)), entry)
                == .alreadyDecided)
        #expect(
            verdict(listed(status: "TaskDecommitmentFailed", at: failedAt.addingTimeInterval(1.001)), entry) == .missed)
    }

    @Test("a notice that was not a failure, or stale, settles nothing")
    func ignoredNoticesDoNotSettleAFailure() {
        var ledger = Ledger(dedupWindow: day)
        deliver(&ledger, webhook(status: "TaskDecommitmentCompleted", sentAt: nil, id: "ok"), at: start)
        #expect(ledger.tasks[sampleTask]?.decidedThrough == nil)
        let failure = listed(at: start.addingTimeInterval(-5))
        #expect(
            Reconciliation.verdict(for: failure, entry: ledger.tasks[sampleTask], now: start, lookback: day) == .missed)
        // Retried at +10; a stale notice arriving at +60 does not hide a failure at +30.
        deliver(&ledger, webhook(sentAt: start, id: "w"), at: start)
        retryAccepted(&ledger, at: start.addingTimeInterval(10))
        let stale = deliver(
            &ledger, webhook(sentAt: start.addingTimeInterval(5), id: "late"), at: start.addingTimeInterval(60))
        #expect(stale?.reason == .stale)
        #expect(ledger.tasks[sampleTask]?.decidedThrough == start)
        #expect(
            Reconciliation.verdict(
                for: listed(at: start.addingTimeInterval(30)), entry: ledger.tasks[sampleTask],
                now: start.addingTimeInterval(60), lookback: day) == .missed)
    }

    // MARK: The delivery

    @Test func theDeliveryIsWhatHDPsCallbackWouldHaveSaid() throws {
        let uuid = TaskID("0195A4C2-7B3D-7E21-9F00-1A2B3C4D5E6F")!
        let task = ListedTask(
            taskID: uuid, status: "TraceGenFailed", error: "rpc timeout",
            updatedAt: Date(timeIntervalSince1970: 1_742_292_000.25),
            item: .object(["uuid": .string("0195A4C2-7B3D-7E21-9F00-1A2B3C4D5E6F"), "chain": .number(1)]))
        let input = try #require(Reconciliation.delivery(for: task, correlationID: "corr"))
        #expect(
            input.deliveryID.description == "reconcile:0195a4c2-7b3d-7e21-9f00-1a2b3c4d5e6f:2025-03-18T10:00:00.250Z")
        #expect(input.deliveryKey == DeliveryKey(id: input.deliveryID))
        #expect(input.source == .reconcile)
        #expect(input.correlationID == "corr")
        #expect(input.notice.taskID == uuid)
        #expect(input.notice.status == "TraceGenFailed")
        #expect(input.notice.error == "rpc timeout")
        #expect(input.notice.timestamp == task.updatedAt)
        #expect(input.notice.payload == task.item)
        #expect(Reconciliation.delivery(for: listed(at: nil), correlationID: "c") == nil)
    }

    @Test("one failure has one delivery id, whatever offset HDP writes its time in")
    func deliveryIDIsNormalised() throws {
        let spellings = ["2025-03-18T10:00:00Z", "2025-03-18T11:00:00+01:00", "2025-03-18T10:00:00.000000Z"]
        let ids = try spellings.map { text in
            let page = try TaskListReader.read(
                Array(#"[{"id":"01jpj03yjt1a93d6nf56g4gveq","status":"DryRunFailed","updatedAt":"\#(text)"}]"#.utf8))
            return try #require(page.tasks.first.flatMap(Reconciliation.deliveryID(for:)))
        }
        #expect(Set(ids) == ["reconcile:01JPJ03YJT1A93D6NF56G4GVEQ:2025-03-18T10:00:00.000Z"])
    }

    // MARK: A sweep and a webhook for one failure

    @Test("the sweep first, then the late webhook while the episode is open: coalesced, one episode")
    func lateWebhookWhileOpen() throws {
        var ledger = Ledger(dedupWindow: day)
        let found = try #require(deliver(&ledger, try sweep(listed(at: start)), at: start.addingTimeInterval(60)))
        #expect(found.decision == .retryScheduled && found.source == .reconcile)
        let late = deliver(&ledger, webhook(sentAt: start, id: "msg_late"), at: start.addingTimeInterval(61))
        #expect(late?.decision == .coalesced && late?.source == .webhook)
        #expect(ledger.openEpisodeCount == 1)
    }

    @Test("the sweep first, then the late webhook after the retry was accepted: stale, no new episode")
    func lateWebhookAfterTheRetry() throws {
        var ledger = Ledger(dedupWindow: day)
        deliver(&ledger, try sweep(listed(at: start)), at: start.addingTimeInterval(60))
        retryAccepted(&ledger, at: start.addingTimeInterval(70))
        let late = deliver(&ledger, webhook(sentAt: start, id: "msg_late"), at: start.addingTimeInterval(80))
        #expect(late?.decision == .ignored && late?.reason == .stale)
        #expect(ledger.openEpisodeCount == 0)
        #expect(ledger.tasks[sampleTask]?.attempts == 1)
    }

    @Test("the sweep first and the rules gave up: the late webhook is already decided, not decided again")
    func lateWebhookAfterGivingUp() throws {
        var ledger = Ledger(dedupWindow: day)
        let found = deliver(
            &ledger, try sweep(listed(status: "TaskDecommitmentFailed", at: start)), at: start.addingTimeInterval(60))
        #expect(found?.decision == .gaveUp)
        let late = deliver(
            &ledger, webhook(status: "TaskDecommitmentFailed", sentAt: start, id: "msg_late"),
            at: start.addingTimeInterval(90))
        #expect(late?.decision == .ignored && late?.reason == .alreadyDecided)
        // A webhook without a time cannot be placed, and is decided as before.
        let untimed = deliver(
            &ledger, webhook(status: "TaskDecommitmentFailed", sentAt: nil, id: "msg_untimed"),
            at: start.addingTimeInterval(95))
        #expect(untimed?.decision == .gaveUp)
    }

    @Test("the webhook first: the next sweep leaves the task alone, then the same sweep again is a duplicate")
    func webhookFirst() throws {
        var ledger = Ledger(dedupWindow: day)
        deliver(&ledger, webhook(sentAt: start, id: "msg_1"), at: start.addingTimeInterval(1))
        let now = start.addingTimeInterval(60)
        #expect(
            Reconciliation.verdict(for: listed(at: start), entry: ledger.tasks[sampleTask], now: now, lookback: day)
                == .openEpisode)
        // Decided under the lock even so (a race with the look): it joins the episode.
        let raced = deliver(&ledger, try sweep(listed(at: start)), at: now)
        #expect(raced?.decision == .coalesced)
        // And the next sweep's delivery of the same failure is a duplicate delivery id.
        guard
            case .duplicate = ledger.decide(
                try sweep(listed(at: start)), now: now, jitter: 0, classify: simpleClassifier)
        else {
            Issue.record("expected a duplicate")
            return
        }
    }

    @Test("decidedThrough survives compaction; snapshots without it read as before")
    func decidedThroughSurvivesSnapshots() {
        var ledger = Ledger(dedupWindow: day)
        deliver(&ledger, webhook(status: "TaskDecommitmentFailed", sentAt: start, id: "a"), at: start)
        var restored = Ledger(dedupWindow: day)
        for record in ledger.snapshotRecords(at: start.addingTimeInterval(10)) { restored.apply(record) }
        #expect(restored.tasks[sampleTask] == ledger.tasks[sampleTask])
        #expect(restored.tasks[sampleTask]?.decidedThrough == start)
    }

    // MARK: The rate limit and the breaker

    @Test("list calls take tokens from the bucket the work items use")
    func listCallsShareTheRateLimit() {
        var settings = DispatchSettings()
        settings.ratePerSecond = 1
        settings.burst = 2
        var machine = DispatchMachine(settings: settings)
        #expect(machine.permitListCall(now: start) == .granted)
        #expect(machine.reserve(now: start) == 1)
        _ = machine.admit([], now: start)
        #expect(machine.permitListCall(now: start) == .granted)
        #expect(machine.permitListCall(now: start) == .wait(until: start.addingTimeInterval(1)))
        #expect(machine.reserve(now: start) == 0)
        #expect(machine.permitListCall(now: start.addingTimeInterval(1)) == .granted)
    }

    @Test("no list call while the breaker is open or half-open; one once its cool-down is over")
    func listCallsWaitForTheBreaker() {
        var settings = DispatchSettings()
        settings.breaker.openFor = .seconds(30)
        let openUntil = start.addingTimeInterval(30)
        var open = DispatchMachine(
            settings: settings, breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        #expect(open.permitListCall(now: start) == .breakerOpen)
        #expect(open.permitListCall(now: openUntil.addingTimeInterval(-0.001)) == .breakerOpen)
        #expect(open.permitListCall(now: openUntil) == .granted)
        var halfOpen = DispatchMachine(
            settings: settings, breaker: BreakerSnapshot(state: .halfOpen, openUntil: nil, trips: 1))
        #expect(halfOpen.permitListCall(now: start) == .breakerOpen)
        var stopping = DispatchMachine(settings: settings)
        stopping.beginStopping()
        #expect(stopping.permitListCall(now: start) == .stopping)
    }
}
