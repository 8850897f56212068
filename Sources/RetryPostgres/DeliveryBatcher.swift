import Foundation
import RetryCore
import Synchronization

/// Group commit for deliveries: concurrent deliveries share one transaction, as they share one
/// fsync in the file journal.
///
/// At most `concurrent` delivery transactions run at once. A delivery that arrives while one is
/// free leads a batch at once: with nothing queued, a delivery commits alone and waits for no
/// timer. A delivery that arrives while all are busy queues; when a transaction ends, its leader
/// answers its batch and hands the lead to the first delivery queued, which takes everything
/// queued by then (up to `maxBatch`) into the next transaction. Under load, batches grow by
/// themselves to what arrived during one commit; idle, nothing waits.
///
/// No task is started: each batch runs on the task of the delivery that leads it.
final class DeliveryBatcher: Sendable {
    /// A delivery waiting for its batch.
    struct Pending: Sendable {
        var input: DeliveryInput
        var now: Date
        var decide: @Sendable (SeenDelivery?, TaskEntry?) -> DeliveryVerdict
        var waiter: CheckedContinuation<Wake, Never>?
    }

    /// How a queued delivery is woken.
    enum Wake: Sendable {
        /// Its batch committed (or failed): the answer.
        case done(Result<DeliveryAnswer, StoreError>)
        /// It leads the next batch.
        case lead
    }

    private struct State {
        var queue: [Pending] = []
        var running = 0
        var closed = false
    }

    let maxBatch: Int
    let concurrent: Int
    private let state = Mutex(State())

    init(maxBatch: Int, concurrent: Int) {
        self.maxBatch = max(1, maxBatch)
        self.concurrent = max(1, concurrent)
    }

    func close() {
        state.withLock { $0.closed = true }
    }

    /// Decides and commits one delivery in a batch; `commit` runs a batch in one transaction and
    /// returns each delivery's answer in order. `decide` is not kept past the return.
    func submit(
        _ input: DeliveryInput, now: Date, decide: @escaping @Sendable (SeenDelivery?, TaskEntry?) -> DeliveryVerdict,
        commit: ([Pending]) async -> [Result<DeliveryAnswer, StoreError>]
    ) async -> Result<DeliveryAnswer, StoreError> {
        let wake = await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
            enum Admission {
                case lead, queued, closed
            }
            let admission = state.withLock { state -> Admission in
                if state.closed { return .closed }
                if state.running < concurrent {
                    state.running += 1
                    return .lead
                }
                state.queue.append(Pending(input: input, now: now, decide: decide, waiter: continuation))
                return .queued
            }
            switch admission {
            case .lead: continuation.resume(returning: .lead)
            case .closed: continuation.resume(returning: .done(.failure(.closed)))
            case .queued: break
            }
        }
        guard case .lead = wake else {
            if case .done(let result) = wake { return result }
            return .failure(.closed)
        }
        // Leading: this delivery first, then what queued meanwhile.
        var batch = [Pending(input: input, now: now, decide: decide, waiter: nil)]
        state.withLock { state in
            let taken = min(state.queue.count, maxBatch - 1)
            batch.append(contentsOf: state.queue.prefix(taken))
            state.queue.removeFirst(taken)
        }
        var results = await commit(batch)
        let waiters = batch.map(\.waiter)
        // Every reference to the batch's decision closures goes before anyone is answered: each
        // belongs to a delivery that is about to return.
        batch.removeAll()
        let mine = results.isEmpty ? .failure(.unavailable("no answer")) : results.removeFirst()
        for (waiter, result) in zip(waiters.dropFirst(), results) { waiter?.resume(returning: .done(result)) }
        let next = state.withLock { state -> CheckedContinuation<Wake, Never>? in
            if !state.queue.isEmpty {
                return state.queue.removeFirst().waiter
            }
            state.running -= 1
            return nil
        }
        next?.resume(returning: .lead)
        return mine
    }
}
