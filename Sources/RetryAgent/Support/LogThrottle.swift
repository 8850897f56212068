import Foundation
import RetryCore
import Synchronization

/// Lets log lines of one kind through at most `burst` at once, refilled at `burst` per
/// `interval` (a ``TokenBucket``), and says how many it held back when it next lets one through.
///
/// Rejected webhooks are logged so that an operator sees why a sender fails, but anyone who can
/// reach the listener can make them: one client pipelining unauthenticated requests would
/// otherwise write a log line per request as fast as it can send. The metrics still count every
/// rejection; the log keeps a sample and the number it left out.
///
/// With `burst` 10 and `interval` 10 s, 1000 rejections within one second log 10 or 11 lines
/// (one token a second refills), and the next line after a quiet spell carries
/// `suppressed=989` or so.
public final class LogThrottle: Sendable {
    private struct State {
        var bucket: TokenBucket
        var suppressed = 0
    }

    private let state: Mutex<State>

    public init(burst: Int, interval: TimeInterval) {
        let burst = max(burst, 1)
        state = Mutex(State(bucket: TokenBucket(rate: Double(burst) / max(interval, 1e-9), burst: burst)))
    }

    /// Whether a line may be logged at `now`, and how many were held back since the last one that
    /// was (to be logged with it).
    public func admit(now: Date) -> (admitted: Bool, suppressed: Int) {
        state.withLock { state in
            guard state.bucket.take(now: now) else {
                state.suppressed += 1
                return (false, 0)
            }
            defer { state.suppressed = 0 }
            return (true, state.suppressed)
        }
    }
}
