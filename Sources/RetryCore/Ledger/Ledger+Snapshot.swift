#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Ledger {
    /// The records that reproduce this state when applied to an empty ledger (compaction's
    /// content): the breaker, one snapshot per task in task order, then the remembered deliveries
    /// (oldest first, 500 to a record). Every record carries `lastSeq`, so sequence numbers go on
    /// from there after a compaction.
    public func snapshotRecords(at now: Date) -> [JournalRecord] {
        let seq = max(lastSeq, 1)
        var records = [JournalRecord(seq: seq, time: now, task: nil, body: .breaker(breaker))]
        records.reserveCapacity(tasks.count + 1 + deliveries.count / 500 + 1)
        for (task, entry) in tasks.sorted(by: { $0.key < $1.key }) {
            let snapshot = TaskSnapshot(
                attempts: entry.attempts, lastAcceptedAt: entry.lastAcceptedAt, state: entry.state,
                episode: entry.episode, decidedThrough: entry.decidedThrough)
            records.append(JournalRecord(seq: seq, time: entry.updatedAt, task: task, body: .taskSnapshot(snapshot)))
        }
        let seen = deliveries.values.sorted { ($0.at, $0.key) < ($1.at, $1.key) }
        var index = 0
        while index < seen.count {
            let chunk = Array(seen[index..<min(index + 500, seen.count)])
            records.append(JournalRecord(seq: seq, time: now, task: nil, body: .deliveriesSnapshot(chunk)))
            index += 500
        }
        return records
    }
}

extension Ledger {
    /// Up to `limit` tasks in `state`: open episodes most overdue first (earliest due), ended ones
    /// most recently changed first; ties by task id.
    public func tasks(in state: TaskState, limit: Int) -> [TaskSummary] {
        let matching = tasks.filter { $0.value.state == state }
        let sorted: [(key: TaskID, value: TaskEntry)]
        if state.isOpen {
            sorted = matching.sorted { lhs, rhs in
                let left = lhs.value.episode?.schedule.due ?? .distantFuture
                let right = rhs.value.episode?.schedule.due ?? .distantFuture
                return left == right ? lhs.key < rhs.key : left < right
            }
        } else {
            sorted = matching.sorted { lhs, rhs in
                lhs.value.updatedAt == rhs.value.updatedAt
                    ? lhs.key < rhs.key : lhs.value.updatedAt > rhs.value.updatedAt
            }
        }
        return sorted.prefix(max(0, limit)).map { TaskSummary(task: $0.key, entry: $0.value) }
    }
}
