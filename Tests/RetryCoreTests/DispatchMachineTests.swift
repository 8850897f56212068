import Foundation
import RetryTesting
import Testing

@testable import RetryCore

/// Every transition of the dispatch protocol on explicit times: reserve → admit (or put back) →
/// decided → started → callFinished, and the breaker permit each work item holds on the way.
@Suite struct DispatchMachineTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let tasks = (0..<6).map { TaskID("01JPJ03YJT1A93D6NF56G4GV\(["A0", "A1", "A2", "A3", "A4", "A5"][$0])")! }

    static func item(_ index: Int, interrupted: Bool = false) -> WorkItem {
        WorkItem(task: tasks[index], correlationID: "c\(index)", rule: "transient", interrupted: interrupted)
    }

    static func settings(
        maxInFlight: Int = 4, rate: Double = 5, burst: Int = 10, confirmStatus: Bool = true, dryRun: Bool = false,
        consecutiveFailures: Int = 2, probes: Int = 1
    ) -> DispatchSettings {
        var settings = DispatchSettings()
        settings.maxInFlight = maxInFlight
        settings.ratePerSecond = rate
        settings.burst = burst
        settings.confirmStatus = confirmStatus
        settings.dryRun = dryRun
        settings.breaker.consecutiveFailures = consecutiveFailures
        settings.breaker.minCalls = 100
        settings.breaker.openFor = .seconds(30)
        settings.breaker.halfOpenProbes = probes
        return settings
    }

    static let failedStatus = HDPStatusOutcome.status(
        TaskStatusInfo(status: "AtlanticProvingFailed", errorMessage: "prover timeout", updatedAt: nil))
    static let call = StatusVerdict.call(AttemptStarted(attempt: 1, status: "AtlanticProvingFailed", reclassified: nil))
    static let later = StatusVerdict.later(
        AttemptFinished(call: .status, result: .serverError, httpStatus: 503, detail: nil, nextDue: start))
    static let superseded = StatusVerdict.end(
        EpisodeEnded(
            outcome: .superseded, reason: .statusNotFailed, status: "Received", rule: "transient",
            countsAttempt: false))

    /// Runs one item from admission to a finished call with `outcome`.
    static func runToCall(
        _ machine: inout DispatchMachine, _ task: TaskID, outcome: HDPCallOutcome, at now: Date
    ) -> BreakerSnapshot? {
        _ = machine.decided(task, checked: failedStatus, verdict: call, now: now)
        _ = machine.started(task, durable: true)
        return machine.callFinished(task, outcome: outcome, now: now)
    }

    @Test func reserveIsBoundedBySlotsAndTokens() {
        var machine = DispatchMachine(settings: Self.settings(maxInFlight: 3, rate: 1, burst: 2))
        #expect(machine.reserve(now: Self.start) == 2)  // the burst
        let admission = machine.admit([Self.item(0), Self.item(1)], now: Self.start)
        #expect(admission.run.map(\.item.task) == [Self.tasks[0], Self.tasks[1]])
        // No tokens left, one slot free: nothing until a token is earned.
        #expect(machine.reserve(now: Self.start) == 0)
        _ = machine.admit([], now: Self.start)
        #expect(machine.reserve(now: Self.start.addingTimeInterval(1)) == 1)
        _ = machine.admit([Self.item(2)], now: Self.start.addingTimeInterval(1))
        // Every slot taken: nothing however many tokens.
        #expect(machine.reserve(now: Self.start.addingTimeInterval(60)) == 0)
        #expect(machine.inFlight == 3)
    }

    @Test func unusedTokensAreGivenBack() {
        var machine = DispatchMachine(settings: Self.settings(maxInFlight: 10, rate: 1, burst: 3))
        #expect(machine.reserve(now: Self.start) == 3)
        _ = machine.admit([Self.item(0)], now: Self.start)  // the store had only one due
        #expect(machine.reserve(now: Self.start) == 2)
    }

    @Test func firstStepFollowsConfirmStatusAndInterruption() {
        var confirming = DispatchMachine(settings: Self.settings(confirmStatus: true))
        _ = confirming.reserve(now: Self.start)
        #expect(confirming.admit([Self.item(0)], now: Self.start).run.map(\.first) == [.checkStatus])

        var trusting = DispatchMachine(settings: Self.settings(confirmStatus: false))
        _ = trusting.reserve(now: Self.start)
        let admitted = trusting.admit([Self.item(0), Self.item(1, interrupted: true)], now: Self.start)
        #expect(admitted.run.map(\.first) == [.decide, .checkStatus])
    }

    @Test func anOpenBreakerPutsEveryCandidateBackAndSaysWhenToLookAgain() {
        let openUntil = Self.start.addingTimeInterval(30)
        var machine = DispatchMachine(
            settings: Self.settings(), breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        #expect(machine.reserve(now: Self.start) == 4)
        let admission = machine.admit([Self.item(0), Self.item(1), Self.item(2)], now: Self.start)
        #expect(admission.run.isEmpty)
        #expect(admission.putBack == [Self.tasks[0], Self.tasks[1], Self.tasks[2]])
        #expect(admission.transitions.isEmpty)
        #expect(machine.inFlight == 0)
        // The tokens came back, and the loop sleeps until the cool-down ends.
        #expect(machine.reserve(now: Self.start) == 4)
        _ = machine.admit([], now: Self.start)
        #expect(machine.wakeAt(nextDue: Self.start, now: Self.start) == openUntil)
        #expect(machine.wakeAt(nextDue: Self.start.addingTimeInterval(10), now: Self.start) == openUntil)
        #expect(
            machine.wakeAt(nextDue: Self.start.addingTimeInterval(40), now: Self.start)
                == Self.start.addingTimeInterval(40))
    }

    @Test func halfOpenAdmitsOneProbeAndPutsTheRestBack() {
        let openUntil = Self.start.addingTimeInterval(30)
        var machine = DispatchMachine(
            settings: Self.settings(), breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        let now = openUntil
        _ = machine.reserve(now: now)
        let admission = machine.admit([Self.item(0), Self.item(1), Self.item(2)], now: now)
        #expect(admission.transitions.map(\.state) == [.halfOpen])
        #expect(admission.run.map(\.item.task) == [Self.tasks[0]])
        #expect(admission.putBack == [Self.tasks[1], Self.tasks[2]])
        // With the probe out, due work waits (a second, or the probe's doorbell).
        #expect(machine.wakeAt(nextDue: now, now: now) == now.addingTimeInterval(1))
        // The probe succeeds: closed again, and the next admission takes everything.
        #expect(Self.runToCall(&machine, Self.tasks[0], outcome: .accepted, at: now)?.state == .closed)
        _ = machine.reserve(now: now)
        #expect(machine.admit([Self.item(1), Self.item(2)], now: now).run.count == 2)
    }

    @Test func aFailedProbeReopensWithALongerCoolDown() {
        let openUntil = Self.start.addingTimeInterval(30)
        var machine = DispatchMachine(
            settings: Self.settings(), breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        _ = machine.reserve(now: openUntil)
        _ = machine.admit([Self.item(0)], now: openUntil)
        let reopened = Self.runToCall(&machine, Self.tasks[0], outcome: .serverError(httpStatus: 503), at: openUntil)
        #expect(reopened == BreakerSnapshot(state: .open, openUntil: openUntil.addingTimeInterval(60), trips: 2))
        #expect(machine.inFlight == 0)
    }

    @Test func consecutiveCallFailuresTripTheBreaker() {
        var machine = DispatchMachine(settings: Self.settings(consecutiveFailures: 2))
        _ = machine.reserve(now: Self.start)
        _ = machine.admit([Self.item(0), Self.item(1)], now: Self.start)
        #expect(Self.runToCall(&machine, Self.tasks[0], outcome: .timeout, at: Self.start) == nil)
        let tripped = Self.runToCall(&machine, Self.tasks[1], outcome: .networkError("reset"), at: Self.start)
        #expect(tripped?.state == .open)
        #expect(tripped?.openUntil == Self.start.addingTimeInterval(30))
        // 404 and 400 are answers about a task, not failures of HDP.
        var calm = DispatchMachine(settings: Self.settings(consecutiveFailures: 2))
        _ = calm.reserve(now: Self.start)
        _ = calm.admit([Self.item(0), Self.item(1)], now: Self.start)
        #expect(Self.runToCall(&calm, Self.tasks[0], outcome: .notFound, at: Self.start) == nil)
        #expect(Self.runToCall(&calm, Self.tasks[1], outcome: .rejected(details: "x"), at: Self.start) == nil)
        #expect(calm.breaker.state == .closed)
    }

    @Test func aStatusCheckThatFailsTransientlyCountsForTheBreaker() {
        var machine = DispatchMachine(settings: Self.settings(consecutiveFailures: 2))
        _ = machine.reserve(now: Self.start)
        _ = machine.admit([Self.item(0), Self.item(1)], now: Self.start)
        let failedCheck = HDPStatusOutcome.failure(.serverError(httpStatus: 503))
        let first = machine.decided(Self.tasks[0], checked: failedCheck, verdict: Self.later, now: Self.start)
        #expect(first.next == .finished && first.transition == nil)
        let second = machine.decided(Self.tasks[1], checked: failedCheck, verdict: Self.later, now: Self.start)
        #expect(second.next == .finished && second.transition?.state == .open)
        #expect(machine.inFlight == 0)
    }

    @Test func anEndingAfterACheckIsASuccessAndWithoutOneReleasesThePermit() {
        // Half-open with one probe: a released permit lets the next probe through; a recorded
        // success closes the breaker.
        let openUntil = Self.start.addingTimeInterval(30)
        let open = BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1)
        var checked = DispatchMachine(settings: Self.settings(), breaker: open)
        _ = checked.reserve(now: openUntil)
        _ = checked.admit([Self.item(0)], now: openUntil)
        let ended = checked.decided(
            Self.tasks[0], checked: .status(TaskStatusInfo(status: "Received", errorMessage: nil, updatedAt: nil)),
            verdict: Self.superseded, now: openUntil)
        #expect(ended.next == .finished && ended.transition?.state == .closed)

        var unchecked = DispatchMachine(settings: Self.settings(confirmStatus: false), breaker: open)
        _ = unchecked.reserve(now: openUntil)
        _ = unchecked.admit([Self.item(0)], now: openUntil)
        let released = unchecked.decided(Self.tasks[0], checked: nil, verdict: Self.superseded, now: openUntil)
        #expect(released.next == .finished && released.transition == nil)
        #expect(unchecked.breaker.state == .halfOpen)
        _ = unchecked.reserve(now: openUntil)
        #expect(unchecked.admit([Self.item(1)], now: openUntil).run.count == 1)
    }

    @Test func aTaskWithNoEpisodeLeftReleasesItsPermit() {
        let openUntil = Self.start.addingTimeInterval(30)
        var machine = DispatchMachine(
            settings: Self.settings(), breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        _ = machine.reserve(now: openUntil)
        _ = machine.admit([Self.item(0)], now: openUntil)
        #expect(machine.decided(Self.tasks[0], checked: nil, verdict: nil, now: openUntil).next == .finished)
        _ = machine.reserve(now: openUntil)
        #expect(machine.admit([Self.item(1)], now: openUntil).run.count == 1)
    }

    @Test func theCallWaitsForADurableStartAndIsAbandonedWithoutOne() {
        let openUntil = Self.start.addingTimeInterval(30)
        var machine = DispatchMachine(
            settings: Self.settings(), breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        _ = machine.reserve(now: openUntil)
        _ = machine.admit([Self.item(0)], now: openUntil)
        let decided = machine.decided(Self.tasks[0], checked: Self.failedStatus, verdict: Self.call, now: openUntil)
        #expect(decided.next == .awaitStart(attempt: 1))
        #expect(machine.phase(of: Self.tasks[0]) == .starting(attempt: 1))
        #expect(machine.started(Self.tasks[0], durable: false) == .abandon)
        #expect(machine.inFlight == 0)
        // The half-open permit came back: another probe may go.
        _ = machine.reserve(now: openUntil)
        let again = machine.admit([Self.item(0)], now: openUntil)
        #expect(again.run.count == 1)
        _ = machine.decided(Self.tasks[0], checked: Self.failedStatus, verdict: Self.call, now: openUntil)
        #expect(machine.started(Self.tasks[0], durable: true) == .send(attempt: 1))
        #expect(machine.phase(of: Self.tasks[0]) == .calling(attempt: 1))
    }

    @Test func dryRunReleasesThePermitAndRecordsNoResult() {
        var machine = DispatchMachine(settings: Self.settings(dryRun: true, consecutiveFailures: 1))
        _ = machine.reserve(now: Self.start)
        _ = machine.admit([Self.item(0)], now: Self.start)
        _ = machine.decided(Self.tasks[0], checked: Self.failedStatus, verdict: Self.call, now: Self.start)
        #expect(machine.started(Self.tasks[0], durable: true) == .dryRun(attempt: 1))
        #expect(machine.callFinished(Self.tasks[0], outcome: nil, now: Self.start) == nil)
        #expect(machine.breaker.state == .closed)
        #expect(machine.inFlight == 0)
    }

    @Test func unclaimReleasesAndIsIdempotent() {
        let openUntil = Self.start.addingTimeInterval(30)
        var machine = DispatchMachine(
            settings: Self.settings(), breaker: BreakerSnapshot(state: .open, openUntil: openUntil, trips: 1))
        _ = machine.reserve(now: openUntil)
        _ = machine.admit([Self.item(0)], now: openUntil)
        machine.unclaim(Self.tasks[0])
        machine.unclaim(Self.tasks[0])
        #expect(machine.inFlight == 0)
        // Released once: exactly one probe may go, not two.
        _ = machine.reserve(now: openUntil)
        let admission = machine.admit([Self.item(1), Self.item(2)], now: openUntil)
        #expect(admission.run.count == 1 && admission.putBack == [Self.tasks[2]])
    }

    @Test func aTaskAlreadyInFlightIsNotAdmittedTwice() {
        var machine = DispatchMachine(settings: Self.settings())
        _ = machine.reserve(now: Self.start)
        _ = machine.admit([Self.item(0)], now: Self.start)
        _ = machine.reserve(now: Self.start)
        let again = machine.admit([Self.item(0)], now: Self.start)
        #expect(again.run.isEmpty && again.putBack == [Self.tasks[0]])
        #expect(machine.inFlight == 1)
    }

    @Test func stoppingAdmitsNothingAndLetsWorkInFlightFinish() {
        var machine = DispatchMachine(settings: Self.settings())
        _ = machine.reserve(now: Self.start)
        _ = machine.admit([Self.item(0)], now: Self.start)
        machine.beginStopping()
        #expect(machine.reserve(now: Self.start) == 0)
        #expect(machine.admit([Self.item(1)], now: Self.start).putBack == [Self.tasks[1]])
        #expect(machine.wakeAt(nextDue: Self.start, now: Self.start) == nil)
        _ = Self.runToCall(&machine, Self.tasks[0], outcome: .accepted, at: Self.start)
        #expect(machine.inFlight == 0)
    }

    @Test func wakeAtWhenHeldBack() {
        // By max_in_flight: no deadline (a finishing item rings).
        var full = DispatchMachine(settings: Self.settings(maxInFlight: 1))
        _ = full.reserve(now: Self.start)
        _ = full.admit([Self.item(0)], now: Self.start)
        #expect(full.wakeAt(nextDue: Self.start, now: Self.start) == nil)
        // By the rate limit: the next token.
        var limited = DispatchMachine(settings: Self.settings(rate: 2, burst: 1))
        _ = limited.reserve(now: Self.start)
        _ = limited.admit([Self.item(0)], now: Self.start)
        #expect(limited.wakeAt(nextDue: Self.start, now: Self.start) == Self.start.addingTimeInterval(0.5))
        // Nothing due: no deadline.
        #expect(limited.wakeAt(nextDue: nil, now: Self.start) == nil)
    }

    /// A seeded random walk through the protocol: whatever order events come in, every admitted
    /// item ends exactly once, in-flight never exceeds the cap, and no permit leaks (when all is
    /// done, a half-open breaker lets exactly `half_open_probes` probes through again).
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomWalksNeverLeakAPermit(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var machine = DispatchMachine(settings: Self.settings(maxInFlight: 3, rate: 100, burst: 100, probes: 2))
        var now = Self.start
        var active: [TaskID] = []
        let outcomes: [HDPCallOutcome] = [.accepted, .notFound, .serverError(httpStatus: 502), .timeout]
        for _ in 0..<500 {
            now = now.addingTimeInterval(Double(random.below(5)))
            if random.below(2) == 0 {
                let limit = machine.reserve(now: now)
                let free = Self.tasks.filter { !active.contains($0) }.prefix(limit)
                let admission = machine.admit(
                    free.map { WorkItem(task: $0, correlationID: "", rule: "r", interrupted: false) }, now: now)
                active += admission.run.map(\.item.task)
            } else if let task = active.randomElement(using: &random) {
                active.removeAll { $0 == task }
                switch random.below(4) {
                case 0: machine.unclaim(task)
                case 1: _ = machine.decided(task, checked: Self.failedStatus, verdict: Self.later, now: now)
                case 2:
                    _ = machine.decided(task, checked: Self.failedStatus, verdict: Self.call, now: now)
                    _ = machine.started(task, durable: random.below(4) != 0)
                    _ = machine.callFinished(
                        task, outcome: outcomes[random.below(outcomes.count)], now: now)
                default: _ = machine.decided(task, checked: nil, verdict: nil, now: now)
                }
            }
            #expect(machine.inFlight <= 3)
            #expect(machine.inFlight == active.count)
        }
        for task in active { machine.unclaim(task) }
        #expect(machine.inFlight == 0)
        // No permit is outstanding: a half-open breaker has no probe in flight.
        #expect(machine.breaker.probesInFlight == 0)
    }
}
