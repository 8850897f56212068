import Foundation
import RetryAgent
import RetryCore
import RetryJournal
import Synchronization

/// The `replay` benchmark: generate a journal, then time each layer of replay on it, measure the
/// memory the replayed state takes, compact it and replay the snapshot.
struct ReplayBenchmark {
    /// Records to generate.
    var records: Int
    /// Distinct tasks the generated notices are about.
    var tasks: Int
    /// Simulated hours the generated journal spans.
    var hours: Double
    /// The generator's seed.
    var seed: UInt64
    /// Where to keep the generated journal, if anywhere.
    var keep: String?
    /// An existing journal to measure instead of a generated one.
    var journal: String?
    /// Measure the full replay only (for a profiler's view of it).
    var replayOnly = false

    /// One line of the results table.
    struct Row {
        var phase: String
        var records: Int
        var bytes: Int
        /// CPU seconds.
        var seconds: Double
        var note: String = ""
        /// Wall-clock seconds, for reference (``seconds`` is CPU time).
        var wallSeconds: Double? = lastWallSeconds.withLock { $0 }
    }

    /// The results table, in the order measured.
    private(set) var rows: [Row] = []
    /// Lines printed under the table (record mix, memory, layout).
    private(set) var notes: [String] = []

    mutating func run() throws {
        let directory = NSTemporaryDirectory() + "hdp-retry-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (journal == nil ? keep : nil) ?? directory + "/journal.jsonl"
        let compactedPath = directory + "/compacted.jsonl"

        if let journal {
            // An existing journal is measured on a copy: replay may cut a torn tail off.
            try FileManager.default.copyItem(atPath: journal, toPath: path)
            notes.append("journal: a copy of \(journal)")
        } else {
            try generate(into: path)
        }
        ProcessMemory.trim()

        let file = try JournalFile(path: path)
        if replayOnly {
            let (ledger, replayRow, memory) = try replayMeasured(file, phase: "replay: + Ledger.apply (full)")
            rows.append(replayRow)
            notes.append(
                memory.describe(tasks: ledger.tasks.count, deliveries: ledger.deliveries.count, what: "journal"))
            return
        }
        // The layers work on the whole file in memory; it is gone before the full replay.
        let (lines, size, lastTime) = try readAndLayers(file)

        // Full replay, as the agent does at start, with the memory it leaves behind.
        let (ledger, replayRow, memory) = try replayMeasured(file, phase: "replay: + Ledger.apply (full)")
        rows.append(replayRow)
        notes.append(memory.describe(tasks: ledger.tasks.count, deliveries: ledger.deliveries.count, what: "journal"))
        notes.append(
            "layout: JournalRecord \(MemoryLayout<JournalRecord>.stride) B, TaskEntry \(MemoryLayout<TaskEntry>.stride) B inline (Episode \(MemoryLayout<Episode?>.stride) B of it), "
                + "SeenDelivery \(MemoryLayout<SeenDelivery>.stride) B; tasks table capacity \(ledger.tasks.capacity), "
                + "deliveries table capacity \(ledger.deliveries.capacity)")
        if journal == nil, ledger.lastSeq != UInt64(lines) {
            throw BenchmarkError("replay stopped at seq \(ledger.lastSeq) of \(lines)")
        }

        // Compaction, then the replay of the snapshot.
        var compacted = ledger
        compacted.expireDeliveries(now: lastTime)
        let (snapshot, snapshotSeconds) = measure { JournalCodec.snapshotBytes(of: compacted, at: lastTime) }
        let snapshotLines = snapshot.count { $0 == 0x0A }
        rows.append(
            Row(
                phase: "compaction: snapshot encode", records: snapshotLines, bytes: snapshot.count,
                seconds: snapshotSeconds,
                note: String(format: "%.1f%% of the journal", 100 * Double(snapshot.count) / Double(size))))
        try Data(snapshot).write(to: URL(fileURLWithPath: compactedPath))
        let expected = Fingerprint(compacted)
        compacted = Ledger(dedupWindow: .seconds(1))
        _ = consume ledger
        ProcessMemory.trim()
        let compactedFile = try JournalFile(path: compactedPath)
        let (replayed, compactedRow, compactedMemory) = try replayMeasured(
            compactedFile, phase: "replay of the compacted file")
        rows.append(compactedRow)
        notes.append(
            compactedMemory.describe(
                tasks: replayed.tasks.count, deliveries: replayed.deliveries.count, what: "compacted journal"))
        guard Fingerprint(replayed) == expected else {
            throw BenchmarkError("the compacted journal does not replay to the same state")
        }
        _ = consume replayed
        try applyAlone(file)
        if let keep { notes.append("journal kept at \(keep)") }
    }

    /// Times `Ledger.apply` by itself, on records decoded beforehand (last, as holding every
    /// record in memory at once would distort the memory figures).
    private mutating func applyAlone(_ file: JournalFile) throws {
        var records: [JournalRecord] = []
        _ = try JournalReader.replay(file) { records.append($0) }
        var ledger = Ledger(dedupWindow: .seconds(86_400))
        let (_, seconds) = measure { for record in records { ledger.apply(record) } }
        rows.append(
            Row(
                phase: "Ledger.apply alone (pre-decoded records)", records: records.count, bytes: 0, seconds: seconds,
                note: "the fold itself, in Ledger.swift"))
    }

    /// Writes the generated journal.
    private mutating func generate(into path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchmarkError("cannot write \(path)") }
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        var generator = JournalGenerator(tasks: tasks, records: records, hours: hours, seed: seed)
        let records = records
        let (_, seconds) = measure { generator.run(records: records) { handle.write(Data($0)) } }
        rows.append(
            Row(
                phase: "generate (decide + apply + encode + write)", records: generator.records,
                bytes: generator.bytes, seconds: seconds))
        rows.append(
            Row(
                phase: "  of which JournalCodec.encode", records: generator.records, bytes: generator.bytes,
                seconds: Double(generator.encodeNanoseconds) / 1e9, wallSeconds: nil))
        let mix = generator.counts.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }
        notes.append("record mix: " + mix.joined(separator: ", "))
        notes.append(
            String(
                format: "journal: %d records, %.1f MB, %.0f bytes/record, %.1f simulated hours",
                generator.records, Double(generator.bytes) / 1e6, Double(generator.bytes) / Double(generator.records),
                hours))
    }

    private mutating func readAndLayers(_ file: JournalFile) throws -> (lines: Int, size: Int, latest: Date) {
        let (bytes, readSeconds) = measure { try? file.readAll() }
        guard let bytes else { throw BenchmarkError("could not read back \(file.path)") }
        let lines = bytes.count { $0 == 0x0A }
        rows.append(Row(phase: "read file (readAll)", records: lines, bytes: bytes.count, seconds: readSeconds))
        return (lines, bytes.count, layers(bytes))
    }

    /// Times replay one layer at a time over bytes already in memory; returns the time of the
    /// latest record (the "now" of the compaction that follows).
    private mutating func layers(_ bytes: [UInt8]) -> Date {
        var lines = 0
        var good = 0
        let (_, crcSeconds) = measure {
            bytes.withUnsafeBytes { buffer in
                Self.forEachLine(buffer) { line in
                    lines += 1
                    if JournalCodec.checksumMatches(line) { good += 1 }
                }
            }
        }
        rows.append(Row(phase: "replay: split + CRC-32C", records: lines, bytes: bytes.count, seconds: crcSeconds))
        var parsed = 0
        let (_, parseSeconds) = measure {
            bytes.withUnsafeBytes { buffer in
                Self.forEachLine(buffer) { line in
                    if JournalCodec.checksumMatches(line), (try? JSONParser.parse(line)) != nil { parsed += 1 }
                }
            }
        }
        rows.append(
            Row(
                phase: "replay: + generic JSONParser tree", records: parsed, bytes: bytes.count, seconds: parseSeconds,
                note: "reference: not on the replay path when the fast decoder applies"))
        var decoded = 0
        var latest = Date(timeIntervalSince1970: 0)
        let (_, decodeSeconds) = measure {
            JournalReader.scan(bytes) { record in
                decoded += 1
                latest = max(latest, record.time)
            }
        }
        rows.append(
            Row(
                phase: "replay: + decode to JournalRecord", records: decoded, bytes: bytes.count,
                seconds: decodeSeconds))
        if good != lines || decoded != lines {
            notes.append("warning: \(lines) lines, \(good) checksums matched, \(decoded) decoded")
        }
        return latest
    }

    private static func forEachLine(_ buffer: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start < buffer.count {
            var end = start
            while end < buffer.count, buffer[end] != 0x0A { end += 1 }
            body(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
            start = end + 1
        }
    }

    /// A summary of a ledger cheap enough to keep while memory is measured (the tests compare
    /// whole states; this catches a benchmark that replays to something else).
    struct Fingerprint: Equatable {
        var tasks: Int
        var openEpisodes: Int
        var attempts: Int
        var deliveries: Int
        var breaker: BreakerSnapshot

        init(_ ledger: Ledger) {
            tasks = ledger.tasks.count
            openEpisodes = ledger.openEpisodeCount
            attempts = ledger.tasks.values.reduce(0) { $0 + $1.attempts }
            deliveries = ledger.deliveries.count
            breaker = ledger.breaker
        }
    }

    /// Memory before and after a replay.
    struct Memory {
        var residentBefore: Int
        var residentAfter: Int
        var peak: Int

        func describe(tasks: Int, deliveries: Int, what: String) -> String {
            let resident = residentAfter - residentBefore
            return String(
                format:
                    "%@: %d tasks, %d remembered deliveries; RSS %.1f → %.1f MB (peak %.1f MB during replay); state %.1f MB = %.0f bytes/task",
                what, tasks, deliveries, Double(residentBefore) / 1e6, Double(residentAfter) / 1e6,
                Double(peak) / 1e6, Double(resident) / 1e6, Double(resident) / Double(max(tasks, 1)))
        }
    }

    private func replayMeasured(_ file: JournalFile, phase: String) throws -> (Ledger, Row, Memory) {
        ProcessMemory.trim()
        let residentBefore = ProcessMemory.residentBytes
        ProcessMemory.resetPeak()
        var ledger = Ledger(dedupWindow: .seconds(86_400))
        let (report, seconds) = measure { Result { try ledger.replay(file) } }
        let replay = try report.get()
        let peak = ProcessMemory.peakResidentBytes
        ProcessMemory.trim()
        let memory = Memory(
            residentBefore: residentBefore, residentAfter: ProcessMemory.residentBytes, peak: peak)
        let row = Row(
            phase: phase, records: replay.records, bytes: Int(replay.bytes), seconds: seconds,
            note: "\(ledger.tasks.count) tasks, \(ledger.anomalies) anomalies")
        return (ledger, row, memory)
    }

    /// The results as a table, then the notes.
    func table() -> String {
        func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
            let padding = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + padding : padding + text
        }
        var lines = [
            pad("phase", 44, left: true) + pad("records", 10) + pad("cpu s", 9) + pad("wall s", 9)
                + pad("records/s", 12) + pad("wall rec/s", 12) + pad("MB/s", 9)
        ]
        for row in rows {
            let rate = row.seconds > 0 ? Double(row.records) / row.seconds : 0
            let megabytes = row.seconds > 0 ? Double(row.bytes) / 1e6 / row.seconds : 0
            lines.append(
                pad(row.phase, 44, left: true) + pad("\(row.records)", 10)
                    + pad(String(format: "%.3f", row.seconds), 9)
                    + pad(row.wallSeconds.map { String(format: "%.3f", $0) } ?? "-", 9)
                    + pad(String(format: "%.0f", rate), 12)
                    + pad(
                        row.wallSeconds.map { String(format: "%.0f", Double(row.records) / max($0, 1e-9)) } ?? "-", 12)
                    + pad(String(format: "%.1f", megabytes), 9)
                    + (row.note.isEmpty ? "" : "  " + row.note))
        }
        lines.append(
            "(records/s and MB/s are per CPU second of the whole process; a replay longer than one 4 MiB chunk"
                + " decodes on a second thread while the first applies, so its wall rate can exceed its CPU rate)")
        lines.append("")
        lines.append(contentsOf: notes)
        return lines.joined(separator: "\n")
    }
}

/// The benchmark could not complete.
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` and returns its result with the seconds it took.
///
/// The seconds are the process's CPU time (all threads), not wall-clock time: on a shared
/// machine CPU time is what stays comparable between runs (the wall-clock time is kept in
/// ``lastWallSeconds`` for the table; it is the figure that shows a pipelined replay's gain).
func measure<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let wallStart = DispatchTime.now().uptimeNanoseconds
    let cpuStart = cpuNanoseconds()
    let value = try body()
    let cpu = Double(cpuNanoseconds() - cpuStart) / 1e9
    lastWallSeconds.withLock { $0 = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9 }
    return (value, cpu)
}

/// The wall-clock seconds of the last ``measure(_:)``.
let lastWallSeconds = Mutex<Double>(0)

/// CPU time used by the process so far.
func cpuNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
