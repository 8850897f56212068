#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var updated: Date?

    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(max(1, burst))
        self.tokens = Double(max(1, burst))
    }

    /// Takes a token at `now` if one is available.
    public mutating func take(now: Date) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Returns `count` unused tokens.
    public mutating func giveBack(_ count: Int) {
        if count > 0 { tokens = min(burst, tokens + Double(count)) }
    }

    /// When the next token will be available.
    public mutating func nextToken(now: Date) -> Date {
        refill(now: now)
        if tokens >= 1 || rate <= 0 { return now }
        return now.addingTimeInterval((1 - tokens) / rate)
    }

    /// Adds the tokens earned since the last call. A clock that stepped back (the wall clock,
    /// corrected) earns nothing for the step and counts on from the new time: anchoring on the
    /// later time instead would stop refills, and so HDP calls, for as long as the step was.
    private mutating func refill(now: Date) {
        if let updated, now > updated {
            tokens = min(burst, tokens + now.timeIntervalSince(updated) * rate)
        }
        updated = now
    }
}
