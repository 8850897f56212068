#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension TaskEntry {
    /// Whether a failure at `time` is older than the task's last accepted retry: that retry
    /// answered it (SPEC §4, a stale notice).
    public func isStale(failureAt time: Date) -> Bool {
        lastAcceptedAt.map { time < $0 } ?? false
    }

    /// Whether a failure at `time` was decided already: the agent journaled a decision on a
    /// failure of this task (or joined one to its open episode) at or after that time
    /// (``decidedThrough``).
    public func hasDecided(failureAt time: Date) -> Bool {
        decidedThrough.map { time <= $0 } ?? false
    }
}

extension DeliveryRecord {
    /// Whether this delivery settles the task's failure at its time: the rules decided it
    /// (retry, give up, exhausted, or an `ignore` rule) or it joined the open episode. Duplicates
    /// are never recorded; stale, not-a-failure and already-decided deliveries settle nothing.
    var decidesFailure: Bool {
        switch decision {
        case .retryScheduled, .coalesced, .gaveUp, .exhausted: true
        case .ignored: reason == .rule
        }
    }
}
