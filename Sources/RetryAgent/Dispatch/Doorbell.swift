import Foundation
import RetryCore
import Synchronization

/// A wake-up signal for a single waiting loop: `ring()` wakes the current (or next) `wait`.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits for a ring, the deadline, or cancellation, whichever comes first.
    func wait(until deadline: Date?, clock: any AgentClock) async {
        await withTaskGroup(of: Void.self) { group in
            if let deadline {
                group.addTask {
                    try? await clock.sleep(until: deadline)
                    if !Task.isCancelled { self.ring() }
                }
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await self.waitForRing()
                } onCancel: {
                    self.ring()
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.rung {
                    state.rung = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
