import Foundation
import RetryCore
import Synchronization

/// A clock the test moves by hand. Sleeping returns after a few milliseconds of real time whatever
/// the deadline (the loops under test re-check the time), so a test never waits for virtual time.
public final class ManualClock: AgentClock, Sendable {
    private let current: Mutex<Date>

    /// A clock that starts at `start` (by default a fixed instant in 2027).
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    /// Moves the clock forward (or back, for a negative `seconds`).
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    public func sleep(until deadline: Date) async throws {
        try await Task.sleep(for: .milliseconds(5))
    }
}
