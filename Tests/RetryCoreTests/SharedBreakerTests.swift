import Foundation
import RetryTesting
import Testing

@testable import RetryCore

/// Adopting a breaker state another agent recorded in a shared store (SPEC §8).
@Suite("Shared breaker")
struct SharedBreakerTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a closed breaker adopts an open one: nothing is admitted until its cool-down is over")
    func adoptOpen() {
        var machine = DispatchMachine(settings: DispatchSettings())
        let open = BreakerSnapshot(state: .open, openUntil: now.addingTimeInterval(30), trips: 2)
        let adopted = machine.adoptBreaker(open)
        let again = machine.adoptBreaker(open)
        #expect(adopted)
        #expect(!again)  // the same state again changes nothing
        let item = WorkItem(task: sampleTask, correlationID: "c", rule: "r", interrupted: false)
        #expect(machine.reserve(now: now) > 0)
        let held = machine.admit([item], now: now)
        #expect(held.run.isEmpty && held.putBack == [sampleTask])
        #expect(machine.wakeAt(nextDue: now, now: now) == now.addingTimeInterval(30))
        // After the cool-down a probe goes through, and the next trip doubles the adopted count.
        _ = machine.reserve(now: now.addingTimeInterval(30))
        let probe = machine.admit([item], now: now.addingTimeInterval(30))
        #expect(probe.run.count == 1 && probe.transitions.map(\.state) == [.halfOpen])
        let (_, transition) = machine.decided(
            sampleTask, checked: .failure(.serverError(httpStatus: 503)),
            verdict: .later(
                AttemptFinished(call: .status, result: .serverError, httpStatus: 503, detail: nil, nextDue: nil)),
            now: now.addingTimeInterval(31))
        #expect(transition?.state == .open && transition?.trips == 3)
    }

    @Test("an open breaker adopts a closed one: work is admitted again at once")
    func adoptClosed() {
        let open = BreakerSnapshot(state: .open, openUntil: now.addingTimeInterval(600), trips: 1)
        var machine = DispatchMachine(settings: DispatchSettings(), breaker: open)
        let adopted = machine.adoptBreaker(.closed)
        #expect(adopted)
        _ = machine.reserve(now: now)
        let item = WorkItem(task: sampleTask, correlationID: "c", rule: "r", interrupted: false)
        #expect(machine.admit([item], now: now).run.count == 1)
    }

    @Test("permits out when a state is adopted are still released without harm")
    func permitsAcrossAdoption() {
        var breaker = CircuitBreaker(settings: CircuitBreakerSettings())
        #expect(breaker.acquire(now: now).permitted)
        breaker.adopt(BreakerSnapshot(state: .halfOpen, openUntil: nil, trips: 1))
        breaker.release()
        #expect(breaker.acquire(now: now).permitted)  // the one probe
        #expect(!breaker.acquire(now: now).permitted)
        #expect(breaker.record(failure: false, now: now) == .closed)
    }
}
