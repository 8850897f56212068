#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Wall-clock time and sleeping, injected so that decisions and tests never depend on the real clock.
public protocol AgentClock: Sendable {
    var now: Date { get }
    /// Sleeps until `deadline` (or returns at once when it has passed); throws on cancellation.
    func sleep(until deadline: Date) async throws
}
