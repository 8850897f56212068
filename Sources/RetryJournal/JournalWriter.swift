import AsyncAlgorithms
import Foundation
import Logging
import NIOPosix
import RetryCore
import ServiceLifecycle
import Synchronization

/// When the journal makes appended records durable.
public enum FsyncPolicy: String, Sendable, Hashable, CaseIterable {
    /// Every batch is fsynced before anyone waiting on it is answered (the default).
    case always
    /// Batches are written at once and fsynced once a second: a power loss can lose up to a second
    /// of acknowledged deliveries; a process crash loses nothing.
    case interval
    /// Never fsynced by the agent; the kernel writes back when it likes.
    case never
}

/// Group commit: records from many deliveries are queued, written with one `write` and made
/// durable with one fsync, and each waiter is resumed once its own record is durable.
///
/// When a write fails (disk full, read-only file system, I/O error) the batch stays queued and is
/// retried with backoff until it succeeds; waiters that asked to fail fast (webhook deliveries,
/// which answer 503) are failed at once, others (the dispatcher) keep waiting.
public final class JournalWriter: Service, Sendable {
    private struct Waiter {
        var seq: UInt64
        var failFast: Bool
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var buffer: [UInt8] = []
        /// The task, length and sequence number of each line in `buffer`, in order.
        var bufferLines: [LineInfo] = []
        var bufferMaxSeq: UInt64 = 0
        var durableSeq: UInt64 = 0
        var waiters: [Waiter] = []
        var failing: JournalError?
        var stopped = false
        var stopping = false
        var compaction: Compaction?
        var index = LineIndex()
        /// Compactions abandoned because the snapshot could not be written.
        var compactionFailures = 0
        /// The length of the last snapshot put in place (0 before the first).
        var lastSnapshotSize: Int64 = 0
    }

    /// A compaction in progress: its snapshot is being built and written in the background while
    /// appends go on to the current file; the records written meanwhile are kept to follow the
    /// snapshot into the new file.
    private struct Compaction {
        /// The sequence number the snapshot covers.
        var seq: UInt64
        /// Lines above ``seq`` written to the current file since the snapshot was taken.
        var retained: [UInt8] = []
        var retainedLines: [LineInfo] = []
        /// Set once the snapshot is on disk in its temporary file.
        var ready: (snapshot: JournalFile.PreparedSnapshot, lines: [LineInfo])?
    }

    /// A compaction to prepare: the builder of its content, run off the caller.
    private struct CompactionJob: Sendable {
        var seq: UInt64
        var build: @Sendable () -> (bytes: [UInt8], lines: [LineInfo])
    }

    public let file: JournalFile
    public let policy: FsyncPolicy
    private let state: Mutex<State>
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let compactionQueue: AsyncStream<CompactionJob>.Continuation
    private let compactionJobs: AsyncStream<CompactionJob>
    private let logger: Logger
    private let observer: @Sendable (JournalWriteEvent) -> Void

    /// What the writer reports to metrics.
    public enum JournalWriteEvent: Sendable {
        case wrote(records: Int, bytes: Int, fsyncSeconds: Double?, fileSize: Int64)
        case failed(JournalError)
        /// A compaction could not be written; the journal is unchanged and appends go on.
        case compactionFailed(JournalError)
        case recovered
        /// A compaction's snapshot took the journal's place.
        case compacted(fileSize: Int64)
    }

    public init(
        file: JournalFile, policy: FsyncPolicy, durableSeq: UInt64, logger: Logger,
        observer: @escaping @Sendable (JournalWriteEvent) -> Void = { _ in }
    ) {
        self.file = file
        self.policy = policy
        self.logger = logger
        self.observer = observer
        var initial = State()
        initial.durableSeq = durableSeq
        initial.bufferMaxSeq = durableSeq
        initial.index = LineIndex(unindexedPrefix: file.size)
        self.state = Mutex(initial)
        (self.wakes, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (self.compactionJobs, self.compactionQueue) = AsyncStream.makeStream(
            of: CompactionJob.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Whether the last write failed and has not yet been retried successfully.
    public var isFailing: Bool { state.withLock { $0.failing != nil } }

    /// How many compactions were abandoned so far because their snapshot could not be written.
    public var compactionFailures: Int { state.withLock { $0.compactionFailures } }

    /// The length of the last snapshot put in place (0 before the first).
    public var lastSnapshotSize: Int64 { state.withLock { $0.lastSnapshotSize } }

    /// Whether a compaction is in progress.
    public var isCompacting: Bool { state.withLock { $0.compaction != nil } }

    /// Queues one encoded record (a whole line) with sequence number `seq`, about `task`.
    public func enqueue(_ line: [UInt8], seq: UInt64, task: TaskID?) {
        state.withLock { state in
            state.buffer.append(contentsOf: line)
            state.bufferLines.append(LineInfo(task: task, length: line.count, seq: seq))
            state.bufferMaxSeq = max(state.bufferMaxSeq, seq)
        }
        wake.yield()
    }

    /// Starts a compaction: `build` makes the journal content that reproduces the state as of
    /// record `seq` (every record up to `seq` has been queued). `build` runs, and its snapshot is
    /// written to a temporary file and made durable, in the background while appends go on to
    /// the current file; then the records written meanwhile are appended to the snapshot and it
    /// takes the journal's place in one rename, between two batches. Ingest never waits for the
    /// snapshot to be built or written, only for that short switch.
    ///
    /// Returns `false` (and does nothing) while another compaction is in progress.
    public func compact(
        seq: UInt64, build: @escaping @Sendable () -> (bytes: [UInt8], lines: [LineInfo])
    ) -> Bool {
        let started = state.withLock { state in
            guard state.compaction == nil, !state.stopping else { return false }
            state.compaction = Compaction(seq: seq)
            return true
        }
        if started { compactionQueue.yield(CompactionJob(seq: seq, build: build)) }
        return started
    }

    /// Builds and writes a compaction's snapshot (on the blocking-work pool), then hands it to
    /// the write loop; a snapshot that cannot be written is given up.
    private func prepare(_ job: CompactionJob) async {
        let file = self.file
        let work = { @Sendable () -> Result<(JournalFile.PreparedSnapshot, [LineInfo]), JournalError> in
            let (bytes, lines) = job.build()
            return Result { () throws(JournalError) in (try file.prepareSnapshot(bytes), lines) }
        }
        let outcome = (try? await NIOThreadPool.singleton.runIfActive(work)) ?? work()
        switch outcome {
        case .success(let (snapshot, lines)):
            let kept = state.withLock { state in
                guard state.compaction?.seq == job.seq else { return false }
                state.compaction?.ready = (snapshot, lines)
                return true
            }
            if !kept { file.discardSnapshot(snapshot) }
            wake.yield()
        case .failure(let error):
            abandonCompaction(error)
        }
    }

    private func abandonCompaction(_ error: JournalError) {
        state.withLock { state in
            state.compaction = nil
            state.compactionFailures += 1
        }
        logger.warning(
            "journal compaction failed; the journal is unchanged and appends go on", metadata: ["error": "\(error)"])
        observer(.compactionFailed(error))
    }

    /// Where the lines about `task` start in the file now, oldest first, and the index's state.
    func lineOffsets(of task: TaskID) -> LineIndex.Lookup {
        state.withLock { $0.index.lookup(task) }
    }

    /// Adds the lines of the file's first `prefix` bytes (read by the caller) to the index, unless
    /// a compaction replaced the file meanwhile.
    func indexPrefix(_ offsets: LineIndex, prefix: Int64, generation: Int) {
        state.withLock { $0.index.mergePrefix(offsets, prefixLength: prefix, generation: generation) }
    }

    /// Returns once the record `seq` is durable (per the fsync policy). With `failFast`, a failing
    /// journal throws at once instead of waiting for it to recover.
    public func waitDurable(_ seq: UInt64, failFast: Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let immediate: Result<Void, any Error>? = state.withLock { state in
                if state.durableSeq >= seq { return .success(()) }
                if state.stopped { return .failure(JournalError.closed) }
                if failFast, let failing = state.failing { return .failure(failing) }
                state.waiters.append(Waiter(seq: seq, failFast: failFast, continuation: continuation))
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Runs the write loop until graceful shutdown, then flushes what is queued and closes.
    /// Throws when records could not be written before it stopped (the agent then exits with a
    /// journal error, having logged how many).
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await job in self.compactionJobs.cancelOnGracefulShutdown() { await self.prepare(job) }
                }
                if self.policy == .interval {
                    // The one-second fsync must happen even when no new record wakes the loop.
                    group.addTask {
                        for await _ in AsyncTimerSequence.repeating(every: .seconds(1)).cancelOnGracefulShutdown() {
                            self.wake.yield()
                        }
                    }
                }
                await self.loop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.wake.finish()
            self.compactionQueue.finish()
        }
        // Flush whatever is still queued before the process exits: a few tries, not for ever,
        // so a journal that cannot be written never holds the shutdown past its grace period.
        await flushRetrying(maximumTries: 3)
        let (leftover, unwritten, failure) = state.withLock { state in
            state.stopped = true
            let waiters = state.waiters
            state.waiters.removeAll()
            return (waiters, state.bufferLines.count, state.failing)
        }
        for waiter in leftover {
            waiter.continuation.resume(throwing: JournalError.closed)
        }
        if unwritten > 0 {
            let error = JournalError.io(
                "\(unwritten) journal record(s) could not be written before shutdown (\(failure?.message ?? "unknown error")); none of them was acknowledged",
                errno: failure?.errno ?? 5)
            logger.error(
                "journal records lost at shutdown: the journal could not be written",
                metadata: ["records": "\(unwritten)", "error": "\(failure?.message ?? "-")"])
            throw error
        }
    }

    private func loop() async {
        var intervalTicker: Date = .now
        for await _ in wakes {
            await flushRetrying(maximumTries: nil)
            if policy == .interval, Date.now.timeIntervalSince(intervalTicker) >= 1 {
                let outcome = (try? await NIOThreadPool.singleton.runIfActive { self.syncOnce() }) ?? syncOnce()
                // A failed sync is tried again at the next tick, not a second later.
                if outcome { intervalTicker = .now }
            }
        }
    }

    /// The `interval` policy's fsync. A failure is a failing journal like a failed write: logged,
    /// reported, and deliveries are answered 503 until a sync succeeds again (what was written
    /// since the last good sync may not be on disk).
    private func syncOnce() -> Bool {
        do throws(JournalError) {
            try file.sync()
            let wasFailing = state.withLock { state in
                let wasFailing = state.failing != nil && state.buffer.isEmpty
                if wasFailing { state.failing = nil }
                return wasFailing
            }
            if wasFailing {
                logger.notice("journal writes succeed again")
                observer(.recovered)
            }
            return true
        } catch {
            let (firstFailure, failFast) = state.withLock { state in
                let firstFailure = state.failing == nil
                state.failing = error
                let failFast = state.waiters.filter(\.failFast)
                state.waiters.removeAll(where: \.failFast)
                return (firstFailure, failFast)
            }
            if firstFailure {
                logger.error(
                    "journal fsync failed; deliveries answer 503 until it recovers", metadata: ["error": "\(error)"])
            }
            observer(.failed(error))
            for waiter in failFast { waiter.continuation.resume(throwing: error) }
            return false
        }
    }

    /// Writes until the queue is empty; on failure retries with backoff, forever (until shutdown
    /// begins) or up to `maximumTries`.
    private func flushRetrying(maximumTries: Int?) async {
        var tries = 0
        var delay = 0.05
        while true {
            let result = (try? await NIOThreadPool.singleton.runIfActive { self.flushOnce() }) ?? flushOnce()
            switch result {
            case .idle:
                return
            case .wrote:
                tries = 0
                delay = 0.05
            case .failed:
                tries += 1
                if let maximumTries, tries >= maximumTries { return }
                if maximumTries == nil, state.withLock({ $0.stopping }) { return }
                try? await Task.sleep(for: .seconds(delay))
                delay = min(delay * 2, 1)
            }
        }
    }

    private enum FlushResult: Sendable {
        case idle
        case wrote
        case failed
    }

    private func flushOnce() -> FlushResult {
        let (batch, batchLines, batchSeq, ready) = state.withLock { state in
            let batch = state.buffer
            let lines = state.bufferLines
            state.buffer.removeAll(keepingCapacity: true)
            state.bufferLines.removeAll(keepingCapacity: true)
            var ready: (Compaction, JournalFile.PreparedSnapshot, [LineInfo])?
            if let compaction = state.compaction, let prepared = compaction.ready {
                ready = (compaction, prepared.snapshot, prepared.lines)
            }
            return (batch, lines, state.bufferMaxSeq, ready)
        }
        if batch.isEmpty, ready == nil { return .idle }
        if let (compaction, snapshot, snapshotLines) = ready {
            // The switch: the snapshot, then the records written since it was taken, then the
            // batch's records above its sequence number (those below it are in the snapshot).
            var tail = compaction.retained
            var tailLines = compaction.retainedLines
            Self.appendLines(of: batch, batchLines, after: compaction.seq, to: &tail, &tailLines)
            do throws(JournalError) {
                try file.commitSnapshot(snapshot, tail: tail)
                let size = file.size
                state.withLock { state in
                    state.index.replaced(by: snapshotLines + tailLines)
                    state.compaction = nil
                    state.lastSnapshotSize = snapshot.size
                }
                observer(.compacted(fileSize: size))
                return finishWrite(upTo: batchSeq, records: batchLines.count, bytes: batch.count, fsyncSeconds: nil)
            } catch {
                // The journal is as it was: the batch goes to it below, as if no compaction ran.
                abandonCompaction(error)
            }
        }
        if batch.isEmpty { return .wrote }
        do throws(JournalError) {
            let start = ContinuousClock.now
            let offset = file.size
            try file.append(batch, sync: policy == .always)
            let fsyncSeconds = policy == .always ? (ContinuousClock.now - start).secondsDouble : nil
            state.withLock { state in
                state.index.appended(batchLines, at: offset)
                if var compaction = state.compaction {
                    Self.appendLines(
                        of: batch, batchLines, after: compaction.seq, to: &compaction.retained,
                        &compaction.retainedLines)
                    state.compaction = compaction
                }
            }
            return finishWrite(
                upTo: batchSeq, records: batchLines.count, bytes: batch.count, fsyncSeconds: fsyncSeconds)
        } catch {
            let (failFast, firstFailure) = state.withLock { state in
                // Put the batch back in front of anything queued meanwhile.
                state.buffer = batch + state.buffer
                state.bufferLines = batchLines + state.bufferLines
                let firstFailure = state.failing == nil
                state.failing = error
                let failFast = state.waiters.filter(\.failFast)
                state.waiters.removeAll(where: \.failFast)
                return (failFast, firstFailure)
            }
            if firstFailure {
                logger.error(
                    "journal write failed; deliveries answer 503 until it recovers", metadata: ["error": "\(error)"])
                observer(.failed(error))
            }
            for waiter in failFast { waiter.continuation.resume(throwing: error) }
            return .failed
        }
    }

    /// Marks every record up to `batchSeq` durable, resumes its waiters, and reports the write.
    private func finishWrite(upTo batchSeq: UInt64, records: Int, bytes: Int, fsyncSeconds: Double?) -> FlushResult {
        let (ready, wasFailing) = state.withLock { state in
            state.durableSeq = max(state.durableSeq, batchSeq)
            let durable = state.durableSeq
            let ready = state.waiters.filter { $0.seq <= durable }
            state.waiters.removeAll { $0.seq <= durable }
            let wasFailing = state.failing != nil
            state.failing = nil
            return (ready, wasFailing)
        }
        if wasFailing {
            logger.notice("journal writes succeed again")
            observer(.recovered)
        }
        observer(.wrote(records: records, bytes: bytes, fsyncSeconds: fsyncSeconds, fileSize: file.size))
        for waiter in ready { waiter.continuation.resume() }
        return .wrote
    }

    /// Appends the lines of `bytes` (described, in order, by `lines`) whose sequence number is
    /// above `seq` to `target`, and their descriptions to `targetLines`.
    private static func appendLines(
        of bytes: [UInt8], _ lines: [LineInfo], after seq: UInt64, to target: inout [UInt8],
        _ targetLines: inout [LineInfo]
    ) {
        var start = 0
        for line in lines {
            if line.seq > seq {
                target.append(contentsOf: bytes[start..<(start + line.length)])
                targetLines.append(line)
            }
            start += line.length
        }
    }
}
