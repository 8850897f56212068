#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The delivery ids the ledger remembers for deduplication, by key.
///
/// Each entry holds what a ``SeenDelivery`` holds except the key, which is the table's key
/// already: 32 bytes a slot instead of 48 (an agent remembers every delivery of its dedup window,
/// hundreds of thousands of them).
public struct DeliveryTable: Sendable, Equatable {
    struct Remembered: Sendable, Hashable {
        var at: Date
        var task: TaskID?
        var decision: DeliveryDecision

        init(_ seen: SeenDelivery) {
            at = seen.at
            task = seen.task
            decision = seen.decision
        }

        func seen(_ key: DeliveryKey) -> SeenDelivery {
            SeenDelivery(key: key, at: at, task: task, decision: decision)
        }
    }

    var storage: [DeliveryKey: Remembered] = [:]

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }
    /// Slots the table has room for before it grows.
    public var capacity: Int { storage.capacity }
    public var keys: some Collection<DeliveryKey> { storage.keys }
    /// Every remembered delivery, in no particular order.
    public var values: [SeenDelivery] { storage.map { $0.value.seen($0.key) } }

    public subscript(key: DeliveryKey) -> SeenDelivery? {
        storage[key]?.seen(key)
    }
}
