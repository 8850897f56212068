#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Settings of the circuit breaker around the HDP API (`circuit_breaker.*`).
public struct CircuitBreakerSettings: Sendable, Hashable {
    /// The most recent calls considered for the failure rate.
    public var window: Int = 20
    /// No failure-rate trip before this many calls are in the window.
    public var minCalls: Int = 5
    /// Trip when failures / calls in the window reach this rate.
    public var failureRate: Double = 0.5
    /// Trip after this many failures in a row, whatever the rate.
    public var consecutiveFailures: Int = 5
    /// The first cool-down; it doubles on each consecutive trip.
    public var openFor: Duration = .seconds(30)
    /// The longest cool-down.
    public var maxOpenFor: Duration = .seconds(600)
    /// Calls let through while half-open.
    public var halfOpenProbes: Int = 1

    public init() {}
}

/// The circuit breaker as a pure state machine: time comes in as `now`, transitions come out as
/// snapshots to journal.
///
/// - closed: calls pass; each result enters a rolling window of the last `window` calls. It trips
///   when the window holds at least `minCalls` calls and the failure rate reaches `failureRate`,
///   or after `consecutiveFailures` failures in a row.
/// - open: no call passes until `openUntil`. The cool-down is `openFor × 2^(trips−1)`, capped at
///   `maxOpenFor`; with the defaults: 30s, 1m, 2m, 4m, 8m, 10m, 10m…
/// - half-open: up to `halfOpenProbes` calls pass. A failed probe re-opens (one more trip); when
///   every probe succeeded the breaker closes and the trip count resets.
public struct CircuitBreaker: Sendable {
    public let settings: CircuitBreakerSettings
    public private(set) var snapshot: BreakerSnapshot
    private var results: [Bool] = []  // true = failure, newest last
    private var consecutive = 0
    /// Half-open probes permitted and not yet recorded or released.
    private(set) var probesInFlight = 0
    private var probesSucceeded = 0

    /// A breaker restored from the journal's last breaker record.
    public init(settings: CircuitBreakerSettings, restoring snapshot: BreakerSnapshot = .closed) {
        self.settings = settings
        self.snapshot = snapshot
    }

    public var state: BreakerSnapshot.State { snapshot.state }

    /// The cool-down after trip number `trips` (1-based).
    public func coolDown(trips: Int) -> Duration {
        var seconds = settings.openFor.secondsDouble
        let cap = settings.maxOpenFor.secondsDouble
        var trip = 1
        while trip < trips, seconds < cap {
            seconds *= 2
            trip += 1
        }
        return .nanoseconds(Int64(min(seconds, cap) * 1e9))
    }

    /// Whether a call may start at `now`; moves open → half-open once the cool-down is over (the
    /// returned snapshot is that transition, to journal). A permitted call must be reported with
    /// ``record(failure:now:)``.
    public mutating func acquire(now: Date) -> (permitted: Bool, transition: BreakerSnapshot?) {
        var transition: BreakerSnapshot?
        if snapshot.state == .open {
            guard let until = snapshot.openUntil, now >= until else { return (false, nil) }
            snapshot = BreakerSnapshot(state: .halfOpen, openUntil: nil, trips: snapshot.trips)
            probesInFlight = 0
            probesSucceeded = 0
            transition = snapshot
        }
        if snapshot.state == .halfOpen {
            guard probesInFlight + probesSucceeded < settings.halfOpenProbes else { return (false, transition) }
            probesInFlight += 1
        }
        return (true, transition)
    }

    /// The earliest time a call may be permitted again, when the breaker is open.
    public var blockedUntil: Date? { snapshot.state == .open ? snapshot.openUntil : nil }

    /// Records a permitted call's result; returns the transition to journal, if any.
    public mutating func record(failure: Bool, now: Date) -> BreakerSnapshot? {
        switch snapshot.state {
        case .halfOpen:
            probesInFlight = max(0, probesInFlight - 1)
            if failure { return trip(now: now) }
            probesSucceeded += 1
            guard probesSucceeded >= settings.halfOpenProbes else { return nil }
            snapshot = .closed
            results.removeAll()
            consecutive = 0
            return snapshot
        case .open:
            // A call that was already in flight when the breaker opened: it changes nothing.
            return nil
        case .closed:
            results.append(failure)
            if results.count > settings.window { results.removeFirst(results.count - settings.window) }
            consecutive = failure ? consecutive + 1 : 0
            let failures = results.count { $0 }
            let rateTrip =
                results.count >= settings.minCalls && Double(failures) / Double(results.count) >= settings.failureRate
            if failure, rateTrip || consecutive >= settings.consecutiveFailures { return trip(now: now) }
            return nil
        }
    }

    /// Takes on a state another agent recorded in a shared store (SPEC §8: one agent seeing HDP
    /// fail holds every agent back). The window of recent results starts again; probes and calls
    /// in flight are still reported with ``record(failure:now:)`` or ``release()`` and count under
    /// the new state. Returns whether anything changed.
    @discardableResult
    public mutating func adopt(_ shared: BreakerSnapshot) -> Bool {
        guard shared != snapshot else { return false }
        snapshot = shared
        results.removeAll()
        consecutive = 0
        probesInFlight = 0
        probesSucceeded = 0
        return true
    }

    /// Gives back a permit that was not used (the call never went out).
    public mutating func release() {
        if snapshot.state == .halfOpen { probesInFlight = max(0, probesInFlight - 1) }
    }

    private mutating func trip(now: Date) -> BreakerSnapshot {
        let trips = snapshot.trips + 1
        snapshot = BreakerSnapshot(
            state: .open, openUntil: now.addingTimeInterval(coolDown(trips: trips).secondsDouble).roundedToMilliseconds,
            trips: trips
        )
        results.removeAll()
        consecutive = 0
        probesInFlight = 0
        probesSucceeded = 0
        return snapshot
    }
}
