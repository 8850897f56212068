import Foundation
import RetryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a replay found.
public struct ReplayReport: Sendable, Hashable {
    /// Records applied.
    public var records: Int = 0
    /// Bytes of whole lines.
    public var bytes: Int64 = 0
    /// Bytes of a torn tail that were cut off (0 when the file ended cleanly).
    public var truncatedBytes: Int = 0
    /// Where the cut-off tail was kept, when there was one.
    public var tornTailSavedTo: String?
}

/// A line that failed to decode.
public struct BadLine: Sendable, Hashable {
    /// 1-based line number.
    public var line: Int
    public var offset: Int
    public var length: Int
    public var problem: String
    /// The line is complete and its checksum matched: what was written is intact, only it cannot
    /// be read (a record this build does not understand, or out of sequence). A crash cannot
    /// produce such a line, so it is never taken for a torn write.
    public var intact = false
}

/// Splits journal bytes into lines and decodes them, telling a torn tail (a crash mid-write:
/// only unreadable bytes until the end of the file, none of them a whole line with a matching
/// checksum) from corruption (an unreadable line followed by readable ones, or a whole, intact
/// line that cannot be read, wherever it is).
public enum JournalReader {
    /// The result of scanning a journal's bytes.
    public struct Scan: Sendable {
        /// Offset just past the last good line.
        public var goodLength: Int = 0
        public var records = 0
        /// Unreadable lines followed by readable ones.
        public var corrupt: [BadLine] = []
        /// The unreadable bytes at the end, if any (a torn write).
        public var tornTail: Range<Int>?
    }

    /// Decodes every line of `bytes`, in order, calling `apply` for each good record.
    ///
    /// Sequence numbers must increase; records of a compaction snapshot share the number of the
    /// last record they summarise, so equal numbers are allowed for snapshot records only.
    ///
    /// A run of zero bytes at the end is space the journal wrote ahead of its records (see
    /// ``JournalFile/segmentBytes``), not a torn write.
    public static func scan(_ bytes: [UInt8], apply: (consuming JournalRecord) -> Void) -> Scan {
        var scanner = Scanner()
        let end = (bytes.lastIndex { $0 != 0 } ?? -1) + 1
        let consumed = bytes.withUnsafeBytes {
            scanner.feed(UnsafeRawBufferPointer(rebasing: $0[0..<end]), at: 0, apply: apply)
        }
        return scanner.finish(tail: consumed..<end)
    }

    /// Bytes read from the file at a time by ``replay(_:apply:)``: the journal is never held in
    /// memory whole, so replay's peak memory is the state it builds plus this.
    static let chunkSize = 4 << 20

    /// Replays the journal into `apply`: cuts a torn tail off (keeping it beside the journal as
    /// `<journal>.torn-<unix ms>`), and refuses corruption in the middle with the file and line.
    ///
    /// The file is read in chunks of ``chunkSize`` bytes (a longer line grows the buffer), and
    /// each line is decoded as it comes.
    public static func replay(
        _ file: JournalFile, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> ReplayReport {
        try replay(file, chunkSize: chunkSize, apply: apply)
    }

    /// ``replay(_:apply:)`` reading `chunkSize` bytes at a time (tests use tiny chunks so that
    /// lines straddle them).
    ///
    /// A file longer than one chunk is read and decoded on a second thread while the caller's
    /// thread applies the records, so replay takes about as long as the slower of the two rather
    /// than their sum; `apply` still sees every record in order, on the caller's thread.
    static func replay(
        _ file: JournalFile, chunkSize: Int, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> ReplayReport {
        guard file.size > Int64(chunkSize) else { return try replaySerially(file, chunkSize: chunkSize, apply: apply) }
        return try replayPipelined(file, chunkSize: chunkSize, apply: apply)
    }

    /// Records handed from the decoding thread to the applying one at a time.
    static let batchSize = 2048

    /// Decodes on a new thread, applies on this one (see ``replay(_:chunkSize:apply:)``).
    static func replayPipelined(
        _ file: JournalFile, chunkSize: Int, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> ReplayReport {
        let channel = RecordChannel(capacity: 4)
        let decoder = Thread {
            var batch = RecordBatch(capacity: batchSize)
            let result = Result { () throws(JournalError) -> ReplayReport in
                try replaySerially(file, chunkSize: chunkSize) { record in
                    batch.append(record)
                    if batch.isFull {
                        channel.send(batch)
                        batch = RecordBatch(capacity: batchSize)
                    }
                }
            }
            if !batch.isEmpty { channel.send(batch) }
            channel.finish(result)
        }
        decoder.start()
        while true {
            switch channel.next() {
            case .records(let batch):
                batch.drain(apply)
            case .end(let result):
                return try result.get()
            }
        }
    }

    /// Decoded records on their way from the decoding thread to the applying one.
    ///
    /// The records are moved out as they are applied, not copied: a copy would retain every
    /// string of a record on one thread and release it again on the other, and those reference
    /// counts live on cache lines the other core wrote last.
    ///
    /// `@unchecked Sendable`: a batch has one owner at a time. The decoder fills it and hands it
    /// to ``RecordChannel``, whose lock orders that hand-off, and never touches it again; the
    /// applying thread then drains it.
    final class RecordBatch: @unchecked Sendable {
        private let storage: UnsafeMutablePointer<JournalRecord>
        private let capacity: Int
        /// `storage[taken..<count]` are initialised.
        private var count = 0
        private var taken = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 1)
            storage = .allocate(capacity: self.capacity)
        }

        deinit {
            (storage + taken).deinitialize(count: count - taken)
            storage.deallocate()
        }

        var isEmpty: Bool { count == taken }
        var isFull: Bool { count == capacity }

        /// Adds a record; the batch must not be full.
        func append(_ record: consuming JournalRecord) {
            precondition(count < capacity, "record batch overflow")
            (storage + count).initialize(to: record)
            count += 1
        }

        /// Moves every record, in order, into `body`.
        func drain(_ body: (consuming JournalRecord) -> Void) {
            while taken < count {
                let record = (storage + taken).move()
                taken += 1
                body(record)
            }
        }
    }

    /// A bounded hand-off of decoded records from one thread to another: the decoder waits when
    /// `capacity` batches are queued, so the records in memory at once stay few.
    final class RecordChannel: @unchecked Sendable {
        /// What the receiving side gets next.
        enum Next {
            case records(RecordBatch)
            /// Every record was received; the decoder's report or error.
            case end(Result<ReplayReport, JournalError>)
        }

        // Everything below is guarded by `condition`.
        private let condition = NSCondition()
        private let capacity: Int
        private var queue: [RecordBatch?] = []
        private var head = 0
        private var outcome: Result<ReplayReport, JournalError>?

        init(capacity: Int) {
            self.capacity = max(capacity, 1)
        }

        /// Queues `batch`, waiting while the queue is full.
        func send(_ batch: RecordBatch) {
            condition.lock()
            defer { condition.unlock() }
            while queue.count - head >= capacity { condition.wait() }
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            queue.append(batch)
            condition.broadcast()
        }

        /// Ends the stream with the decoder's outcome.
        func finish(_ result: Result<ReplayReport, JournalError>) {
            condition.lock()
            defer { condition.unlock() }
            outcome = result
            condition.broadcast()
        }

        /// The next batch, or the outcome once every batch was taken; waits for either.
        func next() -> Next {
            condition.lock()
            defer { condition.unlock() }
            while true {
                if head < queue.count, let batch = queue[head] {
                    queue[head] = nil
                    head += 1
                    condition.broadcast()
                    return .records(batch)
                }
                if let outcome { return .end(outcome) }
                condition.wait()
            }
        }
    }

    /// Reads `fd` from its start up to `end` in chunks of `chunkSize` bytes (a longer line grows
    /// the buffer), decoding each line as it comes: the one read loop of replay and of the
    /// read-only scan.
    static func scan(
        fd: Int32, path: String, end: Int, chunkSize: Int, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> Scan {
        var scanner = Scanner()
        var capacity = max(chunkSize, 1)
        var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { storage.deallocate() }
        // `storage[0..<filled]` holds the file's bytes from offset `base`.
        var base = 0
        var filled = 0
        while base + filled < end {
            if filled == capacity {
                capacity *= 2
                let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
                larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<filled]))
                storage.deallocate()
                storage = larger
            }
            let wanted = min(capacity - filled, end - base - filled)
            let count = pread(fd, storage.baseAddress.unsafelyUnwrapped + filled, wanted, off_t(base + filled))
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .io("cannot read \(path): \(String(cString: strerror(code)))", errno: code)
            }
            // The file shrank under us (a repair, a truncation): what was read is all there is.
            if count == 0 { break }
            filled += count
            let consumed = scanner.feed(UnsafeRawBufferPointer(rebasing: storage[0..<filled]), at: base, apply: apply)
            if consumed > 0 {
                let remaining = filled - consumed
                if remaining > 0 {
                    memmove(
                        storage.baseAddress.unsafelyUnwrapped, storage.baseAddress.unsafelyUnwrapped + consumed,
                        remaining)
                }
                base += consumed
                filled = remaining
            }
        }
        return scanner.finish(tail: base..<(base + filled))
    }

    /// Reads, decodes and applies on the caller's thread.
    static func replaySerially(
        _ file: JournalFile, chunkSize: Int, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> ReplayReport {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw .io("cannot read \(file.path): \(String(cString: strerror(code)))", errno: code)
        }
        defer { close(fd) }
        // Up to the end of the records: the zeros written ahead of them are not read.
        let scan = try Self.scan(fd: fd, path: file.path, end: Int(file.size), chunkSize: chunkSize, apply: apply)
        if let bad = scan.corrupt.first {
            throw .corrupt(
                "\(file.path):\(bad.line): unreadable record (\(bad.problem)); \(scan.corrupt.count) unreadable line(s) that are not a torn last write. Run `hdp-retry-agent journal repair --journal \(file.path)` to set them aside."
            )
        }
        var report = ReplayReport(records: scan.records, bytes: Int64(scan.goodLength))
        if let torn = scan.tornTail {
            let sidePath = "\(file.path).torn-\(Int64(Date().timeIntervalSince1970 * 1000))"
            var tail = [UInt8](repeating: 0, count: torn.count)
            var offset = 0
            while offset < torn.count {
                let count = tail.withUnsafeMutableBytes {
                    pread(
                        fd, $0.baseAddress.unsafelyUnwrapped + offset, torn.count - offset,
                        off_t(torn.lowerBound + offset))
                }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                offset += count
            }
            do {
                try Data(tail[0..<offset]).write(to: URL(fileURLWithPath: sidePath))
            } catch {
                throw .io("cannot keep the torn tail aside in \(sidePath): \(error.localizedDescription)", errno: 5)
            }
            try file.truncate(to: Int64(torn.lowerBound))
            report.truncatedBytes = torn.count
            report.tornTailSavedTo = sidePath
        }
        return report
    }

    /// The scanning state carried from one chunk of the file to the next.
    struct Scanner {
        private var scan = Scan()
        private var pendingBad: [BadLine] = []
        private var lastSeq: UInt64 = 0
        private var lineNumber = 0
        private var decoder = JournalCodec.FastDecoder()

        /// Decodes the complete lines of `buffer`, which holds the file's bytes from offset
        /// `base`; returns how many bytes that was (through the last newline).
        mutating func feed(
            _ buffer: UnsafeRawBufferPointer, at base: Int, apply: (consuming JournalRecord) -> Void
        ) -> Int {
            guard let start = buffer.baseAddress else { return 0 }
            var lineStart = 0
            while lineStart < buffer.count,
                let newline = memchr(start + lineStart, 0x0A, buffer.count - lineStart)
            {
                let lineEnd = UnsafeRawPointer(newline) - start
                lineNumber += 1
                let line = UnsafeRawBufferPointer(rebasing: buffer[lineStart..<lineEnd])
                var problem: String?
                var intact = true
                do throws(JournalCodec.DecodeError) {
                    let record = try JournalCodec.decode(line, using: &decoder)
                    let isSnapshot: Bool
                    switch record.body {
                    case .taskSnapshot, .deliveriesSnapshot, .breaker: isSnapshot = true
                    default: isSnapshot = false
                    }
                    if record.seq < lastSeq || (record.seq == lastSeq && !isSnapshot) {
                        problem = "sequence number \(record.seq) does not follow \(lastSeq)"
                    } else {
                        // Readable lines after unreadable ones: those were corruption, not a torn tail.
                        if !pendingBad.isEmpty {
                            scan.corrupt.append(contentsOf: pendingBad)
                            pendingBad.removeAll()
                        }
                        lastSeq = record.seq
                        apply(record)
                        scan.records += 1
                        scan.goodLength = base + lineEnd + 1
                    }
                } catch {
                    problem = error.message
                    intact = error.checksumMatched
                }
                if let problem {
                    pendingBad.append(
                        BadLine(
                            line: lineNumber, offset: base + lineStart, length: lineEnd - lineStart, problem: problem,
                            intact: intact))
                }
                lineStart = lineEnd + 1
            }
            return lineStart
        }

        /// Ends the scan: `tail` holds the file's bytes after the last newline (a line cut short
        /// when not empty), and its upper bound is the end of the file.
        mutating func finish(tail: Range<Int>) -> Scan {
            if !tail.isEmpty {
                lineNumber += 1
                pendingBad.append(
                    BadLine(
                        line: lineNumber, offset: tail.lowerBound, length: tail.count,
                        problem: "incomplete last line (no newline)"))
            }
            if let first = pendingBad.first {
                if scan.corrupt.isEmpty, !pendingBad.contains(where: \.intact) {
                    scan.tornTail = first.offset..<tail.upperBound
                } else {
                    // Corruption before, or a whole line that was written intact and cannot be
                    // read: cutting it off could drop an acknowledged record, so all of it is
                    // corrupt and the start stops (`journal repair` sets it aside on request).
                    scan.corrupt.append(contentsOf: pendingBad)
                }
                pendingBad.removeAll()
            }
            return scan
        }
    }
}
