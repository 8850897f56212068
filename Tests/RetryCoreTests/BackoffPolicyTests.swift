import RetryTesting
import Testing

@testable import RetryCore

/// `BackoffPolicy`: the worked table of its doc comment, jitter bounds, the cap.
@Suite("Backoff policy")
struct BackoffPolicyTests {
    @Test(
        "base delays of the shipped default (initial 30s, factor 2, max 30m)",
        arguments: zip(0...8, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800] as [Int64]))
    func standardTable(tries: Int, seconds: Int64) {
        #expect(BackoffPolicy.standard.baseDelay(tries: tries) == .seconds(seconds))
        #expect(BackoffPolicy.standard.jitter == .full)
    }

    /// The doc comment's table: n, base, full-jitter range, equal-jitter range (seconds).
    @Test(
        "the doc comment's worked table: full and equal jitter ranges",
        arguments: [(0, 30.0), (1, 60), (2, 120), (3, 240), (6, 1800)])
    func jitterRanges(tries: Int, base: Double) {
        for jitter in BackoffPolicy.Jitter.allCases {
            var policy = BackoffPolicy.standard
            policy.jitter = jitter
            let low = policy.delay(tries: tries, unit: 0).secondsDouble
            let high = policy.delay(tries: tries, unit: 1).secondsDouble
            switch jitter {
            case .full: #expect(low == 0 && high == base)
            case .equal: #expect(low == base / 2 && high == base)
            case .none: #expect(low == base && high == base)
            }
        }
    }

    @Test(
        "jitter stays within its bounds for every unit, and is linear in it", arguments: BackoffPolicy.Jitter.allCases)
    func jitterBounds(jitter: BackoffPolicy.Jitter) {
        let policy = BackoffPolicy(initial: .seconds(10), factor: 3, max: .seconds(500), jitter: jitter)
        for tries in 0..<6 {
            let base = policy.baseDelay(tries: tries).secondsDouble
            for step in 0...100 {
                let unit = Double(step) / 100
                let seconds = policy.delay(tries: tries, unit: unit).secondsDouble
                let expected: Double
                switch jitter {
                case .full: expected = base * unit
                case .equal: expected = base / 2 + base / 2 * unit
                case .none: expected = base
                }
                #expect(abs(seconds - expected) < 1e-6, "tries \(tries) unit \(unit)")
            }
        }
    }

    @Test("a unit outside [0, 1] is clamped")
    func clampedUnit() {
        let policy = BackoffPolicy.standard
        #expect(policy.delay(tries: 0, unit: -5) == .zero)
        #expect(policy.delay(tries: 0, unit: 7) == .seconds(30))
    }

    @Test("the cap holds for large factors and very large try counts")
    func cap() {
        let policy = BackoffPolicy(initial: .seconds(1), factor: 10, max: .seconds(100), jitter: .none)
        #expect(policy.baseDelay(tries: 0) == .seconds(1))
        #expect(policy.baseDelay(tries: 1) == .seconds(10))
        #expect(policy.baseDelay(tries: 2) == .seconds(100))
        #expect(policy.baseDelay(tries: 3) == .seconds(100))
        #expect(policy.baseDelay(tries: 1_000_000) == .seconds(100))
        #expect(policy.delay(tries: 1_000_000, unit: 1) == .seconds(100))
        // Sub-second initial delays keep their precision.
        let fast = BackoffPolicy(initial: .milliseconds(250), factor: 2, max: .seconds(1), jitter: .none)
        #expect(
            (0...3).map { fast.baseDelay(tries: $0) } == [
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(1),
            ])
    }
}
