import Foundation
import Testing

@testable import RetryAgent

@Suite struct LogThrottleTests {
    @Test func admitsABurstThenRefillsAndCountsWhatItHoldsBack() {
        let throttle = LogThrottle(burst: 3, interval: 10)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let first = (0..<5).map { _ in throttle.admit(now: start) }
        #expect(first.map(\.admitted) == [true, true, true, false, false])
        #expect(first.map(\.suppressed) == [0, 0, 0, 0, 0])
        // Refilled (3 per 10 s): admitted again, carrying the count held back.
        let next = throttle.admit(now: start.addingTimeInterval(10))
        #expect(next.admitted && next.suppressed == 2)
        #expect(throttle.admit(now: start.addingTimeInterval(11)).suppressed == 0)
        // A clock that steps back does not hold lines back for as long as the step: lines are
        // admitted as the corrected clock moves on.
        #expect(throttle.admit(now: start).admitted)
        #expect(!throttle.admit(now: start).admitted)
        #expect(throttle.admit(now: start.addingTimeInterval(4)).admitted)
    }
}
