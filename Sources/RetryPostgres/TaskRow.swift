import Foundation
import RetryCore
import RetryJournal

/// A task's state as a row of `hdp_retry_tasks`, and the fold that moves it on.
///
/// The `entry` column holds the task exactly as compaction writes it to the file journal: a
/// `task_snapshot` line of ``JournalCodec``, so the two stores share one encoding of a task (and
/// its checksum catches a damaged row). The other columns are derived from it, for queries.
///
/// New records are folded in with the file store's own fold: a one-task ``Ledger`` seeded with
/// the entry's snapshot applies them, so the database and the file journal cannot disagree about
/// what a record does to a task.
enum TaskRow {
    /// The `entry` column of a task.
    static func encode(_ entry: TaskEntry, task: TaskID) -> String {
        let snapshot = TaskSnapshot(
            attempts: entry.attempts, lastAcceptedAt: entry.lastAcceptedAt, state: entry.state,
            episode: entry.episode, decidedThrough: entry.decidedThrough)
        var line = JournalCodec.encode(
            JournalRecord(seq: 1, time: entry.updatedAt, task: task, body: .taskSnapshot(snapshot)))
        if line.last == 0x0A { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    /// Reads an `entry` column; `nil` for the empty placeholder a delivery inserts for a task it
    /// is about to decide for the first time.
    static func decode(_ text: String) throws(RowError) -> (task: TaskID, entry: TaskEntry)? {
        guard !text.isEmpty else { return nil }
        let record: JournalRecord
        do {
            record = try JournalCodec.decode(Array(text.utf8))
        } catch {
            throw RowError("a task row does not read: \(error)")
        }
        guard let task = record.task, case .taskSnapshot = record.body,
            let entry = applying([record], to: nil, task: task)
        else { throw RowError("a task row is not a task snapshot") }
        return (task, entry)
    }

    /// `entry` (`nil`: a task never seen) after `records`, folded as the ledger folds them.
    static func applying(_ records: [JournalRecord], to entry: TaskEntry?, task: TaskID) -> TaskEntry? {
        var ledger = Ledger(dedupWindow: .seconds(1))
        if let entry {
            let snapshot = TaskSnapshot(
                attempts: entry.attempts, lastAcceptedAt: entry.lastAcceptedAt, state: entry.state,
                episode: entry.episode, decidedThrough: entry.decidedThrough)
            ledger.apply(JournalRecord(seq: 0, time: entry.updatedAt, task: task, body: .taskSnapshot(snapshot)))
        }
        for record in records { ledger.apply(record) }
        return ledger.tasks[task]
    }

    /// The derived columns of a row.
    struct Columns: Sendable {
        var task: String
        var entry: String
        var state: String
        var attempts: Int64
        var updatedAt: Date
        var due: Date?
        var inFlight: Bool

        init(task: TaskID, entry: TaskEntry) {
            self.task = task.rawValue
            self.entry = TaskRow.encode(entry, task: task)
            state = entry.state.rawValue
            attempts = Int64(entry.attempts)
            updatedAt = entry.updatedAt
            due = entry.episode?.schedule.due
            inFlight = entry.episode?.inFlightAttempt != nil
        }
    }

    /// The journal line of `record`, without its newline.
    static func line(_ record: JournalRecord) -> String {
        var line = JournalCodec.encode(record)
        if line.last == 0x0A { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }
}

/// A row of the database that this build cannot read.
struct RowError: Error, Sendable, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}
