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
        /// The task and length of each line in `buffer`, in order.
        var bufferLines: [LineInfo] = []
        var bufferMaxSeq: UInt64 = 0
        var durableSeq: UInt64 = 0
        var waiters: [Waiter] = []
        var failing: JournalError?
        var stopped = false
        var stopping = false
        var pendingReplacement: Replacement?
        var index = LineIndex()
        /// Compactions abandoned because the snapshot could not be written.
        var compactionFailures = 0
    }

    /// A compaction waiting to be written: the snapshot's bytes and lines, and the sequence
    /// number it covers.
    private struct Replacement {
        var bytes: [UInt8]
        var lines: [LineInfo]
        var seq: UInt64
    }

    public let file: JournalFile
    public let policy: FsyncPolicy
    private let state: Mutex<State>
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let logger: Logger
    private let observer: @Sendable (JournalWriteEvent) -> Void

    /// What the writer reports to metrics.
    public enum JournalWriteEvent: Sendable {
        case wrote(records: Int, bytes: Int, fsyncSeconds: Double?, fileSize: Int64)
        case failed(JournalError)
        /// A compaction could not be written; the journal is unchanged and appends go on.
        case compactionFailed(JournalError)
        case recovered
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
    }

    /// Whether the last write failed and has not yet been retried successfully.
    public var isFailing: Bool { state.withLock { $0.failing != nil } }

    /// How many compactions were abandoned so far because their snapshot could not be written.
    public var compactionFailures: Int { state.withLock { $0.compactionFailures } }

    /// Queues one encoded record (a whole line) with sequence number `seq`, about `task`.
    public func enqueue(_ line: [UInt8], seq: UInt64, task: TaskID?) {
        state.withLock { state in
            state.buffer.append(contentsOf: line)
            state.bufferLines.append(LineInfo(task: task, length: line.count))
            state.bufferMaxSeq = max(state.bufferMaxSeq, seq)
        }
        wake.yield()
    }

    /// Queues a compaction: once everything before `seq` is written, the file's content is
    /// replaced by `bytes` (the snapshot of the state at `seq`, whose lines are `lines`); later
    /// records follow it.
    public func enqueueReplacement(_ bytes: [UInt8], lines: [LineInfo], seq: UInt64) {
        state.withLock { state in
            state.pendingReplacement = Replacement(bytes: bytes, lines: lines, seq: seq)
        }
        wake.yield()
    }

    /// Where the lines about `task` start in the file now, oldest first, and the index's state.
    func lineOffsets(of task: TaskID) -> LineIndex.Lookup {
        state.withLock { $0.index.lookup(task) }
    }

    /// Adds the lines of the file's first `prefix` bytes (read by the caller) to the index, unless
    /// a compaction replaced the file meanwhile.
    func indexPrefix(_ offsets: [TaskID: [Int64]], prefix: Int64, generation: Int) {
        state.withLock { $0.index.mergePrefix(offsets, prefix: prefix, generation: generation) }
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
        let (batch, batchLines, batchSeq, replacement) = state.withLock { state in
            let batch = state.buffer
            let lines = state.bufferLines
            let replacement = state.pendingReplacement
            state.buffer.removeAll(keepingCapacity: true)
            state.bufferLines.removeAll(keepingCapacity: true)
            state.pendingReplacement = nil
            return (batch, lines, state.bufferMaxSeq, replacement)
        }
        if batch.isEmpty, replacement == nil { return .idle }
        do throws(JournalError) {
            // A replacement snapshot covers every record up to its seq; records queued with it
            // that are newer than the snapshot are kept and appended after it.
            var remaining = batch
            var remainingLines = batchLines
            if let replacement {
                // A snapshot that cannot be written (full disk, read-only directory) is given up
                // and the file left as it is: the batch is appended whole, so appends never wait
                // on compaction. The store tries a new compaction later.
                do throws(JournalError) {
                    try file.replace(with: replacement.bytes)
                    (remaining, remainingLines) = Self.lines(in: batch, after: replacement.seq)
                    state.withLock { $0.index.replaced(by: replacement.lines) }
                    observer(.compacted(fileSize: file.size))
                } catch {
                    state.withLock { $0.compactionFailures += 1 }
                    logger.warning(
                        "journal compaction failed; the journal is unchanged and appends go on",
                        metadata: ["error": "\(error)"])
                    observer(.compactionFailed(error))
                }
            }
            var fsyncSeconds: Double?
            if !remaining.isEmpty {
                let start = ContinuousClock.now
                let offset = file.size
                try file.append(remaining, sync: policy == .always)
                state.withLock { $0.index.appended(remainingLines, at: offset) }
                if policy == .always {
                    let elapsed = ContinuousClock.now - start
                    fsyncSeconds = elapsed.secondsDouble
                }
            }
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
            observer(
                .wrote(
                    records: remainingLines.count, bytes: remaining.count, fsyncSeconds: fsyncSeconds,
                    fileSize: file.size))
            for waiter in ready { waiter.continuation.resume() }
            return .wrote
        } catch {
            let failFast = state.withLock { state in
                // Put the batch back in front of anything queued meanwhile.
                state.buffer = batch + state.buffer
                state.bufferLines = batchLines + state.bufferLines
                let firstFailure = state.failing == nil
                state.failing = error
                let failFast = state.waiters.filter(\.failFast)
                state.waiters.removeAll(where: \.failFast)
                return (failFast, firstFailure)
            }
            if failFast.1 {
                logger.error(
                    "journal write failed; deliveries answer 503 until it recovers", metadata: ["error": "\(error)"])
                observer(.failed(error))
            }
            for waiter in failFast.0 { waiter.continuation.resume(throwing: error) }
            return .failed
        }
    }

    /// The lines of `bytes` whose record sequence number is above `seq`, with their tasks.
    private static func lines(in bytes: [UInt8], after seq: UInt64) -> ([UInt8], [LineInfo]) {
        var kept: [UInt8] = []
        var keptLines: [LineInfo] = []
        var decoder = JournalCodec.FastDecoder()
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let line = Array(bytes[start..<end])
            let record = line.withUnsafeBytes { try? JournalCodec.decode($0, using: &decoder) }
            if let record, record.seq > seq {
                kept.append(contentsOf: line)
                kept.append(0x0A)
                keptLines.append(LineInfo(task: record.task, length: line.count + 1))
            }
            start = end + 1
        }
        return (kept, keptLines)
    }
}
