import Foundation
import RetryCore

extension RetryEngine {
    /// Whether a reconciliation sweep's list call may go out at `now`: a token of the rate limit
    /// the retries use, and a breaker that lets calls through
    /// (``DispatchMachine/permitListCall(now:)``).
    public func permitListCall(now: Date) -> ListCallPermit {
        machine.withLock { $0.permitListCall(now: now) }
    }
}
