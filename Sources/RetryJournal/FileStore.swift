import Foundation
import Logging
import NIOPosix
import RetryCore

/// The file journal as a ``RetryStore``: the whole ``Ledger`` in memory, the journal on disk.
///
/// An actor: every decision runs on the state as every earlier record left it, and a record is
/// folded into the ledger as soon as it is appended (before it is durable). Every answer that
/// depends on a record waits until the writer has made it durable; because the journal is
/// written in order, a durable record means every earlier one is durable too.
///
/// It compacts the journal when it grows past `journal.compact_above_bytes` and has doubled since
/// the last snapshot this process wrote.
public actor FileStore: RetryStore {
    /// Settings of the file store (`webhook.dedup_window`, `journal.*`).
    public struct Settings: Sendable, Hashable {
        public var dedupWindow: Duration = .seconds(86_400)
        public var retention: Duration = .seconds(168 * 3600)
        public var compactAboveBytes: Int64 = 67_108_864

        public init() {}
    }

    /// What the store reports to metrics and logs.
    public enum Event: Sendable {
        /// Records were appended (not yet durable).
        case appended(records: Int)
        /// A compaction began: its snapshot is being built and written in the background.
        case compactionStarted(tasks: Int)
    }

    public nonisolated let file: JournalFile
    public nonisolated let writer: JournalWriter
    public nonisolated let settings: Settings
    private var ledger: Ledger
    private let observe: @Sendable (Event) -> Void
    /// Compaction failures the writer reported that this store has seen.
    private var compactionFailuresSeen = 0
    /// After a failed compaction, no new one is tried before this time.
    private var compactionBackoffUntil: Date?

    /// How long after a failed compaction the next one may be tried.
    public static let compactionRetryDelay: Duration = .seconds(60)

    /// A store over `ledger` (replayed from `file`), writing through `writer`.
    public init(
        ledger: Ledger, file: JournalFile, writer: JournalWriter, settings: Settings,
        observe: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.ledger = ledger
        self.file = file
        self.writer = writer
        self.settings = settings
        self.observe = observe
    }

    /// Replays `file` on a thread of the blocking-work pool (never the cooperative pool the
    /// listeners run on), into a ledger with `dedupWindow`.
    public static func replay(
        _ file: JournalFile, dedupWindow: Duration
    ) async throws(JournalError) -> (Ledger, ReplayReport) {
        let outcome: Result<(Ledger, ReplayReport), JournalError>
        do {
            outcome = try await NIOThreadPool.singleton.runIfActive {
                Result { () throws(JournalError) in
                    var ledger = Ledger(dedupWindow: dedupWindow)
                    let report = try ledger.replay(file)
                    return (ledger, report)
                }
            }
        } catch {
            throw .io("the journal could not be replayed: \(error)", errno: 0)
        }
        return try outcome.get()
    }

    /// A read-only copy of the ledger (tests, tools).
    public var ledgerSnapshot: Ledger { ledger }

    // MARK: RetryStore

    /// Decides on the actor, then waits for durability off it: the wait resumes on the caller's
    /// executor, not back on the actor only to return (one actor hop a delivery, not two).
    public nonisolated func recordDelivery(
        _ input: DeliveryInput, now: Date, decide: @Sendable (SeenDelivery?, TaskEntry?) -> DeliveryVerdict
    ) async throws(StoreError) -> DeliveryAnswer {
        let (answer, seq) = try await decideDelivery(input, now: now, decide: decide)
        try await waitDurable(seq)
        return answer
    }

    /// The answer to a delivery and the sequence number that must be durable before it is given:
    /// its own record, or, for a duplicate, the last one (the original may still be on its way).
    private func decideDelivery(
        _ input: DeliveryInput, now: Date, decide: @Sendable (SeenDelivery?, TaskEntry?) -> DeliveryVerdict
    ) throws(StoreError) -> (DeliveryAnswer, UInt64) {
        guard !writer.isFailing else { throw .unavailable("the last journal write failed") }
        let task = input.notice.taskID
        let entry = ledger.tasks[task]
        switch decide(ledger.seenDelivery(input.deliveryKey, now: now), entry) {
        case .duplicate(let seen):
            return (.duplicate(seen), ledger.lastSeq)
        case .record(let delivery):
            let seq = append(.delivery(delivery), task: task, at: now)
            return (.accepted(delivery, task: task, attempt: (entry?.attempts ?? 0) + 1), seq)
        }
    }

    public func claimDue(now: Date, limit: Int) -> [WorkItem] {
        guard limit > 0, !writer.isFailing else { return [] }
        return ledger.takeDue(now: now, limit: limit).compactMap { task in
            guard let episode = ledger.tasks[task]?.episode else { return nil }
            return WorkItem(
                task: task, correlationID: episode.correlationID, rule: episode.schedule.rule,
                interrupted: episode.inFlightAttempt != nil)
        }
    }

    public func release(_ tasks: [TaskID]) {
        for task in tasks { ledger.putBack(task) }
    }

    public func update<Result: Sendable>(
        _ task: TaskID, now: Date, decide: @Sendable (TaskEntry) -> StoreUpdate<Result>?
    ) async throws(StoreError) -> Result? {
        guard let entry = ledger.tasks[task], let update = decide(entry) else { return nil }
        for body in update.records { append(body, task: task, at: now) }
        return update.result
    }

    public nonisolated func makeDurable() async throws(StoreError) {
        guard !writer.isFailing else { throw .unavailable("the last journal write failed") }
        try await waitDurable(await lastSeq)
    }

    private var lastSeq: UInt64 { ledger.lastSeq }

    public func recordBreaker(_ snapshot: BreakerSnapshot, now: Date) {
        append(.breaker(snapshot), task: nil, at: now)
    }

    public func breakerSnapshot() -> BreakerSnapshot { ledger.breaker }

    public func nextDue() -> Date? { ledger.nextDue() }

    public func view(of task: TaskID) async -> TaskView? {
        guard let entry = ledger.tasks[task] else { return nil }
        let history = await history(of: task)
        return TaskView(task: task, entry: entry, history: history)
    }

    public func tasks(in state: TaskState, limit: Int, now: Date) -> [TaskSummary] {
        ledger.tasks(in: state, limit: limit)
    }

    public func gauges(now: Date) -> StoreGauges {
        StoreGauges(openEpisodes: ledger.openEpisodeCount, oldestOverdueSeconds: ledger.oldestOverdue(now: now))
    }

    // MARK: Appending

    /// Appends a record: folds it into the ledger and queues it for the journal.
    @discardableResult
    private func append(_ body: RecordBody, task: TaskID?, at time: Date) -> UInt64 {
        let record = JournalRecord(seq: ledger.lastSeq + 1, time: time, task: task, body: body)
        writer.enqueue(JournalCodec.encode(record), seq: record.seq, task: task)
        ledger.apply(record)
        observe(.appended(records: 1))
        compactIfNeeded(now: time)
        return ledger.lastSeq
    }

    private nonisolated func waitDurable(_ seq: UInt64) async throws(StoreError) {
        do {
            try await writer.waitDurable(seq, failFast: true)
        } catch let error as JournalError where error.isClosed {
            throw .closed
        } catch {
            throw .unavailable("\(error)")
        }
    }

    // MARK: Compaction

    private func compactIfNeeded(now: Date) {
        // On every append: the one cheap test first.
        let size = file.size
        guard size > settings.compactAboveBytes else { return }
        let failures = writer.compactionFailures
        if failures != compactionFailuresSeen {
            // The last snapshot was not written: the file was left as it was. Try again later,
            // rather than on every append.
            compactionFailuresSeen = failures
            compactionBackoffUntil = now.addingTimeInterval(Self.compactionRetryDelay.secondsDouble)
        }
        if let until = compactionBackoffUntil, now < until { return }
        // Twice the last snapshot too: a journal already above the threshold at start (no
        // snapshot written by this process yet) is compacted at its first append.
        guard size > 2 * writer.lastSnapshotSize, !writer.isCompacting else { return }
        compact(now: now)
    }

    /// Rewrites the journal as a snapshot of the live state: delivery ids past the dedup window
    /// and ended tasks past retention are dropped first. The snapshot is built from a copy of the
    /// state and written in the background (see ``JournalWriter/compact(seq:build:)``): the store
    /// goes on deciding, and the journal on taking appends, meanwhile.
    public func compact(now: Date) {
        let now = now.roundedToMilliseconds
        ledger.expireDeliveries(now: now)
        ledger.dropTasks(olderThan: settings.retention, now: now)
        let snapshot = ledger
        let started = writer.compact(seq: ledger.lastSeq) {
            var bytes: [UInt8] = []
            var lines: [LineInfo] = []
            for record in snapshot.snapshotRecords(at: now) {
                let line = JournalCodec.encode(record)
                bytes.append(contentsOf: line)
                lines.append(LineInfo(task: record.task, length: line.count, seq: record.seq))
            }
            return (bytes, lines)
        }
        if started { observe(.compactionStarted(tasks: ledger.tasks.count)) }
    }

    // MARK: History

    /// The task's records in the journal, oldest first, read at the offsets the writer's index
    /// holds. The first lookup indexes the journal replayed at start (once, on the blocking-work
    /// pool). A line that is not the task's belongs to a task whose hash is the same, and is
    /// skipped; a compaction between the lookup and the read (the index's generation moved on)
    /// makes it look again.
    private func history(of task: TaskID) async -> [JournalRecord] {
        let file = self.file
        let writer = self.writer
        let outcome = try? await NIOThreadPool.singleton.runIfActive { () -> [JournalRecord] in
            for _ in 0..<3 {
                var lookup = writer.lineOffsets(of: task)
                if lookup.unindexedPrefix > 0 {
                    let prefix = lookup.unindexedPrefix
                    guard let bytes = try? file.read(from: 0, count: Int(prefix)) else { return [] }
                    writer.indexPrefix(Self.lineOffsets(in: bytes), prefix: prefix, generation: lookup.generation)
                    lookup = writer.lineOffsets(of: task)
                    if lookup.unindexedPrefix > 0 { continue }
                }
                var records: [JournalRecord] = []
                for offset in lookup.offsets {
                    guard let record = Self.record(in: file, at: offset) else { break }
                    if record.task == task { records.append(record) }
                }
                if writer.lineOffsets(of: task).generation == lookup.generation { return records }
            }
            return []
        }
        return outcome ?? []
    }

    /// The record on the line at `offset`; `nil` past the end of what is written.
    private static func record(in file: JournalFile, at offset: Int64) -> JournalRecord? {
        var length = 1024
        while length <= 1 << 22 {
            guard let bytes = try? file.read(from: offset, count: length) else { return nil }
            if let end = bytes.firstIndex(of: 0x0A) {
                return try? JournalCodec.decode(Array(bytes[..<end]))
            }
            if bytes.count < length { return nil }
            length *= 4
        }
        return nil
    }

    /// Where each task's lines start in `bytes` (whole journal lines from offset 0). Only the
    /// `task` field is read; a line without one (breaker, deliveries snapshot) is skipped.
    static func lineOffsets(in bytes: [UInt8]) -> LineIndex {
        var offsets = LineIndex()
        let marker = Array(#","task":""#.utf8)
        bytes.withUnsafeBytes { buffer in
            var start = 0
            while start < buffer.count {
                var end = start
                while end < buffer.count, buffer[end] != 0x0A { end += 1 }
                // The task field comes right after `type`, within the first hundred-odd bytes.
                let window = min(end, start + 160)
                var index = start
                while index + marker.count <= window {
                    if buffer[index] == marker[0], zip(marker.indices, marker).allSatisfy({ buffer[index + $0] == $1 })
                    {
                        let idStart = index + marker.count
                        var idEnd = idStart
                        while idEnd < end, buffer[idEnd] != UInt8(ascii: "\"") { idEnd += 1 }
                        let id = UnsafeRawBufferPointer(rebasing: buffer[idStart..<idEnd])
                        if let task = TaskID(utf8: id) { offsets.add(task, at: Int64(start)) }
                        break
                    }
                    index += 1
                }
                start = end + 1
            }
        }
        return offsets
    }
}
