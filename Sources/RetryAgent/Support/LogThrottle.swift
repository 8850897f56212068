import Foundation
import Synchronization

/// Lets at most `burst` log lines of one kind through per `interval`, and says how many it held
/// back when it next lets one through.
///
/// Rejected webhooks are logged so that an operator sees why a sender fails, but anyone who can
/// reach the listener can make them: one client pipelining unauthenticated requests would
/// otherwise write a log line per request as fast as it can send. The metrics still count every
/// rejection; the log keeps a sample and the number it left out.
///
/// With `burst` 10 and `interval` 10 s, 1000 rejections in one second log 10 lines, and the first
/// rejection after the 10 s are up logs with `suppressed=990`.
public final class LogThrottle: Sendable {
    private struct State {
        var windowStart: Date = .distantPast
        var logged = 0
        var suppressed = 0
    }

    private let burst: Int
    private let interval: TimeInterval
    private let state = Mutex(State())

    public init(burst: Int, interval: TimeInterval) {
        self.burst = max(burst, 1)
        self.interval = interval
    }

    /// Whether a line may be logged at `now`, and how many were held back since the last one that
    /// was (to be logged with it).
    public func admit(now: Date) -> (admitted: Bool, suppressed: Int) {
        state.withLock { state in
            if now.timeIntervalSince(state.windowStart) >= interval || now < state.windowStart {
                state.windowStart = now
                state.logged = 0
            }
            guard state.logged < burst else {
                state.suppressed += 1
                return (false, 0)
            }
            state.logged += 1
            defer { state.suppressed = 0 }
            return (true, state.suppressed)
        }
    }
}
