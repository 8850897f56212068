import Foundation
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore

/// The engine over an in-memory store and a scripted HDP client, on a manual clock: every step
/// of a delivery and a retry without a network, a disk or real time.
@Suite struct RetryEngineTests {
    static let taskA = TaskID("01JPJ03YJT1A93D6NF56G4GVEQ")!
    static let taskB = TaskID("01JPJ03YJT1A93D6NF56G4GVER")!

    struct Fixture {
        let store: MemoryStore
        let clock: ManualClock
        let client: ScriptedHDPClient
        let engine: RetryEngine

        init(
            settings: EngineSettings = EngineSettings(), client: ScriptedHDPClient = ScriptedHDPClient(),
            breaker: BreakerSnapshot = .closed
        ) {
            store = MemoryStore()
            clock = ManualClock()
            self.client = client
            engine = RetryEngine(
                store: store, breaker: breaker, settings: settings, clock: clock, metrics: nil, logger: silentLogger,
                jitter: { 0.5 }, classify: simpleClassifier)
        }

        func deliver(
            _ task: TaskID, id: String, status: String = "AtlanticProvingFailed"
        ) async throws -> DeliveryAnswer {
            try await engine.accept(
                DeliveryInput(notice: notice(task, status: status), deliveryID: id, correlationID: "c-\(id)"))
        }

        /// Claims and runs everything due now, in order; returns how many work items ran.
        @discardableResult
        func dispatch() async -> Int {
            let (run, _) = await engine.claim()
            for admitted in run { await engine.run(admitted, client: client) }
            return run.count
        }

        func state(_ task: TaskID) async -> TaskState? { await store.ledger.tasks[task]?.state }
        func types(_ task: TaskID) async -> [String] {
            await store.records.filter { $0.task == task }.map(\.body.typeName)
        }
    }

    @Test func aDeliveryIsRetriedOnceWhenDueAfterAStatusCheck() async throws {
        let fixture = Fixture()
        guard case .accepted(let record, _, let attempt) = try await fixture.deliver(Self.taskA, id: "m1") else {
            Issue.record("not accepted")
            return
        }
        #expect(record.decision == .retryScheduled && attempt == 1)
        // simpleClassifier: 10 s without jitter. Not due yet: nothing runs, and the loop is told when.
        let (early, wakeAt) = await fixture.engine.claim()
        #expect(early.isEmpty)
        #expect(wakeAt == fixture.clock.now.roundedToMilliseconds.addingTimeInterval(10))
        fixture.clock.advance(by: 10)
        #expect(await fixture.dispatch() == 1)
        #expect(fixture.client.calls == [.status(Self.taskA), .retry(Self.taskA)])
        #expect(await fixture.state(Self.taskA) == .ended(.retried))
        #expect(await fixture.types(Self.taskA) == ["delivery", "attempt_started", "attempt_finished"])
        // Nothing more to do, however long one waits.
        fixture.clock.advance(by: 3600)
        #expect(await fixture.dispatch() == 0)
        #expect(fixture.client.retries(of: Self.taskA) == 1)
    }

    @Test func aDuplicateAndACoalescedNoticeAddNoRetry() async throws {
        let fixture = Fixture()
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        guard case .duplicate = try await fixture.deliver(Self.taskA, id: "m1") else {
            Issue.record("a repeated delivery id was not a duplicate")
            return
        }
        guard case .accepted(let coalesced, _, _) = try await fixture.deliver(Self.taskA, id: "m2") else {
            Issue.record("not accepted")
            return
        }
        #expect(coalesced.decision == .coalesced)
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        #expect(fixture.client.retries(of: Self.taskA) == 1)
    }

    @Test func aTaskNoLongerFailedIsSupersededWithoutACall() async throws {
        let client = ScriptedHDPClient(
            defaultStatus: .status(TaskStatusInfo(status: "Received", errorMessage: nil, updatedAt: nil)))
        let fixture = Fixture(client: client)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        #expect(client.calls == [.status(Self.taskA)])
        #expect(await fixture.state(Self.taskA) == .ended(.superseded))
    }

    @Test func aStartThatCannotBeMadeDurableSendsNothingAndIsTriedAgainWithACheck() async throws {
        var settings = EngineSettings()
        settings.dispatch.confirmStatus = false
        let fixture = Fixture(settings: settings)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        let (run, _) = await fixture.engine.claim()
        let admitted = try #require(run.first)
        #expect(admitted.first == .decide)
        await fixture.store.setFailWrites(true)
        await fixture.engine.run(admitted, client: fixture.client)
        #expect(fixture.client.calls.isEmpty)
        #expect(await fixture.state(Self.taskA) == .inFlight)
        // While writes fail, nothing is handed out; once they succeed, the attempt counts as
        // interrupted: a status check first, whatever confirm_status says, then one retry.
        #expect(await fixture.dispatch() == 0)
        await fixture.store.setFailWrites(false)
        #expect(await fixture.dispatch() == 1)
        #expect(fixture.client.calls == [.status(Self.taskA), .retry(Self.taskA)])
        #expect(await fixture.state(Self.taskA) == .ended(.retried))
    }

    @Test func anOpenBreakerHoldsEveryTaskAndAProbeGoesAfterTheCoolDown() async throws {
        let fixture = Fixture(
            breaker: BreakerSnapshot(
                state: .open, openUntil: ManualClock().now.addingTimeInterval(30), trips: 1))
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        _ = try await fixture.deliver(Self.taskB, id: "m2")
        fixture.clock.advance(by: 10)
        let (held, wakeAt) = await fixture.engine.claim()
        #expect(held.isEmpty)
        #expect(wakeAt == ManualClock().now.addingTimeInterval(30))
        #expect(await fixture.store.nextDue() != nil)  // put back, not lost
        fixture.clock.advance(by: 20)
        #expect(await fixture.dispatch() == 1)  // one half-open probe
        #expect(fixture.engine.breakerState == .closed)
        #expect(await fixture.dispatch() == 1)
        #expect(fixture.client.retries(of: Self.taskA) == 1 && fixture.client.retries(of: Self.taskB) == 1)
        let breakerRecords = await fixture.store.records.compactMap { record -> BreakerSnapshot.State? in
            if case .breaker(let snapshot) = record.body { return snapshot.state }
            return nil
        }
        #expect(breakerRecords == [.halfOpen, .closed])
    }

    @Test func dryRunDecidesAndJournalsButSendsNothing() async throws {
        var settings = EngineSettings()
        settings.dispatch.dryRun = true
        let fixture = Fixture(settings: settings)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        #expect(fixture.client.calls == [.status(Self.taskA)])
        #expect(await fixture.state(Self.taskA) == .ended(.dryRun))
        #expect(await fixture.types(Self.taskA) == ["delivery", "attempt_started", "attempt_finished"])
    }

    @Test func aTransientFailureIsRetriedAfterTheBackoff() async throws {
        let client = ScriptedHDPClient()
        client.scriptRetries(Self.taskA, [.serverError(httpStatus: 502)])
        let fixture = Fixture(client: client)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        #expect(await fixture.state(Self.taskA) == .pending)
        // The second try is due 20 s later (10 s × 2¹, no jitter).
        fixture.clock.advance(by: 19)
        #expect(await fixture.dispatch() == 0)
        fixture.clock.advance(by: 1)
        #expect(await fixture.dispatch() == 1)
        #expect(client.retries(of: Self.taskA) == 2)
        #expect(await fixture.state(Self.taskA) == .ended(.retried))
    }

    @Test func deliveriesAreRefusedWhileStoppingOrWhileTheStoreCannotWrite() async throws {
        let fixture = Fixture()
        await fixture.store.setFailWrites(true)
        await #expect(throws: DeliveryRefusal(reason: .journalUnavailable)) {
            try await fixture.deliver(Self.taskA, id: "m1")
        }
        await fixture.store.setFailWrites(false)
        fixture.engine.beginStopping()
        await #expect(throws: DeliveryRefusal(reason: .stopping)) { try await fixture.deliver(Self.taskA, id: "m2") }
        #expect(await fixture.store.records.isEmpty)
    }

    /// A retry whose answer never came (a timeout, a connection lost after sending) may have
    /// been queued by HDP. Before, its `attempt_finished` cleared the attempt: with
    /// `confirm_status: false` the next try POSTed again (a second paid proving run), and with
    /// `true` a `superseded` ending did not count the retry HDP took.
    @Test(arguments: [HDPCallOutcome.timeout, .connectionLost("connection reset")])
    func anUnknownOutcomeIsCheckedBeforeAnyOtherCall(outcome: HDPCallOutcome) async throws {
        var settings = EngineSettings()
        settings.dispatch.confirmStatus = false
        let client = ScriptedHDPClient(
            defaultStatus: .status(TaskStatusInfo(status: "TraceGenStarted", errorMessage: nil, updatedAt: nil)))
        client.scriptRetries(Self.taskA, [outcome])
        let fixture = Fixture(settings: settings, client: client)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        #expect(client.calls == [.retry(Self.taskA)])
        #expect(await fixture.store.ledger.tasks[Self.taskA]?.episode?.inFlightAttempt == 1)
        // The next try begins with a status check, although confirm_status is off; HDP shows the
        // task re-running, so the retry went through: it ends superseded and counts.
        fixture.clock.advance(by: 3600)
        await fixture.dispatch()
        #expect(client.calls == [.retry(Self.taskA), .status(Self.taskA)])
        let entry = try #require(await fixture.store.ledger.tasks[Self.taskA])
        #expect(entry.state == .ended(.superseded))
        #expect(entry.attempts == 1)
        guard case .episodeEnded(let ended)? = await fixture.store.records.last?.body else {
            Issue.record("the episode did not end with a record")
            return
        }
        #expect(ended.reason == .interruptedAttemptWentThrough && ended.countsAttempt)
    }

    /// When the status check shows the task still failed, HDP did not take the retry: it is
    /// sent again as the same attempt, once.
    @Test func anUnknownOutcomeStillFailedIsRetriedOnce() async throws {
        let client = ScriptedHDPClient()
        client.scriptRetries(Self.taskA, [.timeout])
        let fixture = Fixture(client: client)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        fixture.clock.advance(by: 3600)
        await fixture.dispatch()
        #expect(client.retries(of: Self.taskA) == 2)
        #expect(await fixture.state(Self.taskA) == .ended(.retried))
        #expect(await fixture.store.ledger.tasks[Self.taskA]?.attempts == 1)
    }

    /// A refused connection never reached HDP: the attempt is over, and with
    /// `confirm_status: false` the next try goes straight to the call.
    @Test func aCallThatNeverLeftIsNotAnUnknownOutcome() async throws {
        var settings = EngineSettings()
        settings.dispatch.confirmStatus = false
        let client = ScriptedHDPClient()
        client.scriptRetries(Self.taskA, [.networkError("connection refused")])
        let fixture = Fixture(settings: settings, client: client)
        _ = try await fixture.deliver(Self.taskA, id: "m1")
        fixture.clock.advance(by: 10)
        await fixture.dispatch()
        #expect(await fixture.store.ledger.tasks[Self.taskA]?.episode?.inFlightAttempt == nil)
        fixture.clock.advance(by: 3600)
        await fixture.dispatch()
        #expect(client.calls == [.retry(Self.taskA), .retry(Self.taskA)])
    }

    @Test func theDispatcherLoopWakesOnVirtualTime() async throws {
        let fixture = Fixture()
        let dispatcher = Dispatcher(engine: fixture.engine, client: fixture.client, clock: fixture.clock, metrics: nil)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await dispatcher.run() }
            _ = try await fixture.deliver(Self.taskA, id: "m1")
            // The loop goes to sleep until the task is due; nothing happens before the clock moves.
            #expect(await until { fixture.clock.sleepers > 0 })
            #expect(fixture.client.calls.isEmpty)
            fixture.clock.advance(by: 10)
            #expect(await until { fixture.client.retries(of: Self.taskA) == 1 })
            #expect(await until { await fixture.state(Self.taskA) == .ended(.retried) })
            group.cancelAll()
        }
    }

    /// Yields until `condition` holds (bounded); no real time passes in between.
    func until(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<200_000 {
            if await condition() { return true }
            await Task.yield()
        }
        return await condition()
    }
}
