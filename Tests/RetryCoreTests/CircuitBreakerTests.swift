import Foundation
import RetryTesting
import Testing

@testable import RetryCore

/// The breaker state machine and the token bucket, driven by explicit `now` values: no sleeping.
@Suite("Circuit breaker")
struct CircuitBreakerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func settings(
        window: Int = 20, minCalls: Int = 5, failureRate: Double = 0.5, consecutive: Int = 5, probes: Int = 1
    ) -> CircuitBreakerSettings {
        var settings = CircuitBreakerSettings()
        settings.window = window
        settings.minCalls = minCalls
        settings.failureRate = failureRate
        settings.consecutiveFailures = consecutive
        settings.halfOpenProbes = probes
        return settings
    }

    /// One permitted call and its result; returns the transition the result caused.
    static func call(_ breaker: inout CircuitBreaker, failure: Bool, at now: Date) -> BreakerSnapshot? {
        let (permitted, _) = breaker.acquire(now: now)
        #expect(permitted)
        return breaker.record(failure: failure, now: now)
    }

    @Test("the failure rate trips only once the window holds min_calls calls")
    func rateTripNeedsMinCalls() {
        var breaker = CircuitBreaker(settings: Self.settings(minCalls: 5, consecutive: 100))
        // Two failures out of two: a 100% rate, but below min_calls.
        for failure in [true, true, false, false] {
            #expect(Self.call(&breaker, failure: failure, at: Self.t0) == nil)
        }
        #expect(breaker.state == .closed)
        // The fifth call is a failure: 3 of 5 = 0.6 ≥ 0.5.
        let transition = Self.call(&breaker, failure: true, at: Self.t0)
        #expect(transition == BreakerSnapshot(state: .open, openUntil: Self.t0.addingTimeInterval(30), trips: 1))
        #expect(breaker.state == .open)
    }

    @Test("a failure rate below the threshold does not trip; old calls leave the window")
    func rateBelowThreshold() {
        var breaker = CircuitBreaker(settings: Self.settings(window: 4, minCalls: 4, consecutive: 100))
        for failure in [true, false, false, false, true, false, false, false] {
            #expect(Self.call(&breaker, failure: failure, at: Self.t0) == nil)
        }
        // The first failure has left the window of 4: [S S S F] is 0.25, then [S S F F] is 0.5.
        #expect(Self.call(&breaker, failure: true, at: Self.t0) == nil)
        #expect(Self.call(&breaker, failure: true, at: Self.t0)?.state == .open)
    }

    @Test("consecutive failures trip whatever the rate; a success resets the run")
    func consecutiveTrip() {
        var breaker = CircuitBreaker(settings: Self.settings(minCalls: 100, consecutive: 3))
        for failure in [true, true, false, true, true] {
            #expect(Self.call(&breaker, failure: failure, at: Self.t0) == nil)
        }
        #expect(Self.call(&breaker, failure: true, at: Self.t0)?.trips == 1)
        #expect(breaker.state == .open)
    }

    @Test(
        "the cool-down doubles per trip up to max_open_for",
        arguments: zip(1...7, [30, 60, 120, 240, 480, 600, 600] as [Int64]))
    func coolDownTable(trips: Int, seconds: Int64) {
        let breaker = CircuitBreaker(settings: Self.settings())
        #expect(breaker.coolDown(trips: trips) == .seconds(seconds))
    }

    @Test("each failed probe re-opens with one more trip and the next cool-down of the table")
    func probeFailuresWalkTheTable() throws {
        var breaker = CircuitBreaker(settings: Self.settings(consecutive: 1))
        var now = Self.t0
        var openFor: [TimeInterval] = []
        var transition = Self.call(&breaker, failure: true, at: now)
        for trip in 1...7 {
            let snapshot = try #require(transition)
            #expect(snapshot.state == .open)
            #expect(snapshot.trips == trip)
            let until = try #require(snapshot.openUntil)
            openFor.append(until.timeIntervalSince(now))
            // Still open a millisecond before the end of the cool-down.
            let permit = breaker.acquire(now: until.addingTimeInterval(-0.001))
            #expect(permit.permitted == false)
            #expect(breaker.blockedUntil == until)
            now = until
            let (permitted, halfOpen) = breaker.acquire(now: now)
            #expect(permitted)
            #expect(halfOpen == BreakerSnapshot(state: .halfOpen, openUntil: nil, trips: trip))
            transition = breaker.record(failure: true, now: now)
        }
        #expect(openFor == [30, 60, 120, 240, 480, 600, 600])
    }

    @Test("half-open lets half_open_probes calls through; all succeeding closes and resets the trips")
    func probeLimitAndClose() {
        var breaker = CircuitBreaker(
            settings: Self.settings(consecutive: 1, probes: 2),
            restoring: BreakerSnapshot(state: .open, openUntil: Self.t0, trips: 3))
        let permit = breaker.acquire(now: Self.t0)
        #expect(permit == (true, BreakerSnapshot(state: .halfOpen, openUntil: nil, trips: 3)))
        let permit2 = breaker.acquire(now: Self.t0)
        #expect(permit2 == (true, nil))
        let permit3 = breaker.acquire(now: Self.t0)
        #expect(permit3 == (false, nil))
        let transition = breaker.record(failure: false, now: Self.t0)
        #expect(transition == nil)
        #expect(breaker.state == .halfOpen)
        // One probe succeeded and one is in flight: still no third probe.
        let permit4 = breaker.acquire(now: Self.t0)
        #expect(permit4.permitted == false)
        let transition2 = breaker.record(failure: false, now: Self.t0)
        #expect(transition2 == .closed)
        #expect(breaker.snapshot.trips == 0)
        // A fresh trip starts the table again at 30s.
        let next = Self.t0.addingTimeInterval(1)
        #expect(Self.call(&breaker, failure: true, at: next)?.openUntil == next.addingTimeInterval(30))
    }

    @Test("a failed probe re-opens at once, even with other probes allowed")
    func probeFailureReopens() {
        var breaker = CircuitBreaker(
            settings: Self.settings(probes: 3), restoring: BreakerSnapshot(state: .open, openUntil: Self.t0, trips: 1))
        let permit = breaker.acquire(now: Self.t0)
        #expect(permit.permitted)
        let permit2 = breaker.acquire(now: Self.t0)
        #expect(permit2.permitted)
        let reopened = breaker.record(failure: true, now: Self.t0)
        #expect(reopened == BreakerSnapshot(state: .open, openUntil: Self.t0.addingTimeInterval(60), trips: 2))
        // The other probe's late success changes nothing while open.
        let transition = breaker.record(failure: false, now: Self.t0)
        #expect(transition == nil)
        #expect(breaker.state == .open)
    }

    @Test("restored open with openUntil in the future stays blocked until then")
    func restoreFutureOpen() {
        let until = Self.t0.addingTimeInterval(45)
        var breaker = CircuitBreaker(
            settings: Self.settings(), restoring: BreakerSnapshot(state: .open, openUntil: until, trips: 2))
        let permit = breaker.acquire(now: Self.t0)
        #expect(permit == (false, nil))
        #expect(breaker.blockedUntil == until)
        let permit2 = breaker.acquire(now: until)
        #expect(permit2.permitted)
        #expect(breaker.state == .halfOpen)
    }

    @Test("restored open with openUntil in the past goes half-open on the first call")
    func restorePastOpen() {
        var breaker = CircuitBreaker(
            settings: Self.settings(),
            restoring: BreakerSnapshot(state: .open, openUntil: Self.t0.addingTimeInterval(-3600), trips: 4))
        let (permitted, halfOpen) = breaker.acquire(now: Self.t0)
        #expect(permitted)
        #expect(halfOpen == BreakerSnapshot(state: .halfOpen, openUntil: nil, trips: 4))
        // A failed probe continues the table from the restored trips: trip 5 → 8m.
        let transition = breaker.record(failure: true, now: Self.t0)
        #expect(transition?.openUntil == Self.t0.addingTimeInterval(480))
    }

    @Test("release gives an unused half-open permit back; it does nothing when closed")
    func release() {
        var breaker = CircuitBreaker(
            settings: Self.settings(), restoring: BreakerSnapshot(state: .open, openUntil: Self.t0, trips: 1))
        let permit = breaker.acquire(now: Self.t0)
        #expect(permit.permitted)
        let permit2 = breaker.acquire(now: Self.t0)
        #expect(permit2.permitted == false)
        breaker.release()
        let permit3 = breaker.acquire(now: Self.t0)
        #expect(permit3.permitted)
        let transition = breaker.record(failure: false, now: Self.t0)
        #expect(transition == .closed)
        breaker.release()
        #expect(breaker.state == .closed)
        let permit4 = breaker.acquire(now: Self.t0)
        #expect(permit4.permitted)
    }
}

/// The dispatcher's rate limit.
@Suite("Token bucket")
struct TokenBucketTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func drain(_ bucket: inout TokenBucket, at now: Date) -> Int {
        var taken = 0
        while bucket.take(now: now), taken < 1000 { taken += 1 }
        return taken
    }

    @Test("a full bucket gives burst tokens at once, then none")
    func burst() {
        var bucket = TokenBucket(rate: 2, burst: 3)
        #expect(Self.drain(&bucket, at: Self.t0) == 3)
        let took = bucket.take(now: Self.t0)
        #expect(took == false)
    }

    @Test("tokens come back at rate per second, never above burst")
    func refill() {
        var bucket = TokenBucket(rate: 2, burst: 3)
        _ = Self.drain(&bucket, at: Self.t0)
        let took = bucket.take(now: Self.t0.addingTimeInterval(0.49))
        #expect(took == false)
        let took2 = bucket.take(now: Self.t0.addingTimeInterval(0.5))
        #expect(took2)
        #expect(Self.drain(&bucket, at: Self.t0.addingTimeInterval(1.0)) == 1)
        #expect(Self.drain(&bucket, at: Self.t0.addingTimeInterval(100)) == 3)
        // A clock that steps back adds nothing.
        let took3 = bucket.take(now: Self.t0)
        #expect(took3 == false)
    }

    @Test("nextToken is now while a token is there, else when the next one arrives")
    func nextToken() {
        var bucket = TokenBucket(rate: 4, burst: 1)
        let next = bucket.nextToken(now: Self.t0)
        #expect(next == Self.t0)
        let took = bucket.take(now: Self.t0)
        #expect(took)
        let next2 = bucket.nextToken(now: Self.t0)
        #expect(next2 == Self.t0.addingTimeInterval(0.25))
        let later = Self.t0.addingTimeInterval(0.1)
        let next3 = bucket.nextToken(now: later)
        #expect(abs(next3.timeIntervalSince(Self.t0.addingTimeInterval(0.25))) < 1e-9)
    }

    @Test("a clock that steps back earns nothing for the step and refills from the new time on")
    func clockSteppingBack() {
        var bucket = TokenBucket(rate: 2, burst: 3)
        _ = Self.drain(&bucket, at: Self.t0)
        let corrected = Self.t0.addingTimeInterval(-3600)
        let atStep = bucket.take(now: corrected)
        #expect(atStep == false)
        // Half a second later by the corrected clock, one token, as on any other half second.
        let after = bucket.take(now: corrected.addingTimeInterval(0.5))
        #expect(after == true)
    }

    @Test("giveBack returns unused tokens, capped at burst")
    func giveBack() {
        var bucket = TokenBucket(rate: 1, burst: 3)
        _ = Self.drain(&bucket, at: Self.t0)
        bucket.giveBack(2)
        #expect(Self.drain(&bucket, at: Self.t0) == 2)
        bucket.giveBack(10)
        #expect(Self.drain(&bucket, at: Self.t0) == 3)
        bucket.giveBack(0)
        bucket.giveBack(-4)
        let took = bucket.take(now: Self.t0)
        #expect(took == false)
    }
}
