import Foundation

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
}

/// Splits journal bytes into lines and decodes them, telling a torn tail (a crash mid-write:
/// only unreadable bytes until the end of the file) from corruption in the middle (an unreadable
/// line followed by readable ones).
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
    public static func scan(_ bytes: [UInt8], apply: (JournalRecord) -> Void) -> Scan {
        var scan = Scan()
        var pendingBad: [BadLine] = []
        var lastSeq: UInt64 = 0
        var lineNumber = 0
        bytes.withUnsafeBytes { buffer in
            var start = 0
            while start < buffer.count {
                lineNumber += 1
                var end = start
                while end < buffer.count, buffer[end] != 0x0A { end += 1 }
                let complete = end < buffer.count
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                var problem: String?
                if !complete {
                    problem = "incomplete last line (no newline)"
                } else {
                    do throws(JournalCodec.DecodeError) {
                        let record = try JournalCodec.decode(line)
                        let isSnapshot: Bool
                        switch record.body {
                        case .taskSnapshot, .deliveriesSnapshot, .breaker: isSnapshot = true
                        default: isSnapshot = false
                        }
                        if record.seq < lastSeq || (record.seq == lastSeq && !isSnapshot) {
                            problem = "sequence number \(record.seq) does not follow \(lastSeq)"
                        } else {
                            // Readable lines after unreadable ones: those were corruption, not a torn tail.
                            scan.corrupt.append(contentsOf: pendingBad)
                            pendingBad.removeAll()
                            lastSeq = record.seq
                            apply(record)
                            scan.records += 1
                            scan.goodLength = end + 1
                        }
                    } catch {
                        problem = error.message
                    }
                }
                if let problem {
                    pendingBad.append(BadLine(line: lineNumber, offset: start, length: end - start, problem: problem))
                }
                start = complete ? end + 1 : end
            }
        }
        if let first = pendingBad.first {
            if scan.corrupt.isEmpty {
                scan.tornTail = first.offset..<bytes.count
            } else {
                // Corruption in the middle and unreadable bytes at the end: all of it is corrupt.
                scan.corrupt.append(contentsOf: pendingBad)
            }
        }
        return scan
    }

    /// Replays the journal into `apply`: cuts a torn tail off (keeping it beside the journal as
    /// `<journal>.torn-<unix ms>`), and refuses corruption in the middle with the file and line.
    public static func replay(_ file: JournalFile, apply: (JournalRecord) -> Void) throws(JournalError) -> ReplayReport
    {
        let bytes = try file.readAll()
        let scan = scan(bytes, apply: apply)
        if let bad = scan.corrupt.first {
            throw .corrupt(
                "\(file.path):\(bad.line): unreadable record (\(bad.problem)); \(scan.corrupt.count) bad line(s) in the middle of the journal. Run `hdp-retry-agent journal repair --journal \(file.path)` to set them aside."
            )
        }
        var report = ReplayReport(records: scan.records, bytes: Int64(scan.goodLength))
        if let torn = scan.tornTail {
            let sidePath = "\(file.path).torn-\(Int64(Date().timeIntervalSince1970 * 1000))"
            do {
                try Data(bytes[torn]).write(to: URL(fileURLWithPath: sidePath))
            } catch {
                throw .io("cannot keep the torn tail aside in \(sidePath): \(error.localizedDescription)", errno: 5)
            }
            try file.truncate(to: Int64(torn.lowerBound))
            report.truncatedBytes = torn.count
            report.tornTailSavedTo = sidePath
        }
        return report
    }
}
