import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryJournal

/// `JournalReader.scanReadOnly`: reading a journal beside the agent that writes it.
@Suite struct JournalReadOnlyScanTests {
    /// The read-only scan takes no lock (a live agent holds it), reads up to the size at open,
    /// and leaves a half-written last line in the file.
    @Test func theReadOnlyScanRunsBesideTheLockHolderAndChangesNothing() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        let records = JournalTests.randomRecords(seed: 5, count: 200)
        var bytes = records.flatMap(JournalCodec.encode)
        bytes += Array(
            JournalCodec.encode(JournalRecord(seq: 999, time: Date(), task: nil, body: .breaker(.closed))).prefix(40))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let holder = try JournalFile(path: path)
        defer { _ = holder }
        for chunkSize in [17, 4096, 1 << 22] {
            var read: [JournalRecord] = []
            let scan = try JournalReader.scanReadOnly(path: path, chunkSize: chunkSize) { read.append($0) }
            #expect(read == records)
            #expect(scan.tornTail?.count == 40)
            #expect(scan.corrupt.isEmpty)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
    }

    /// Records the agent writes over its zero-filled space while the scan reads are not read:
    /// the scan stops at the end of the records as they were when it opened the file, so it never
    /// sees half of one (which would read as corruption).
    @Test func recordsWrittenAheadDuringTheScanAreNotRead() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        let records = JournalTests.randomRecords(seed: 7, count: 50)
        let bytes = records.flatMap(JournalCodec.encode)
        try Data(bytes + [UInt8](repeating: 0, count: 1 << 20)).write(to: URL(fileURLWithPath: path))
        let later = JournalTests.randomRecords(seed: 8, count: 50).enumerated().map { index, record in
            var record = record
            record.seq = 10_000 + UInt64(index)
            return record
        }
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? writer.close() }
        var read: [JournalRecord] = []
        var wrote = false
        let scan = try JournalReader.scanReadOnly(path: path, chunkSize: 64) { record in
            read.append(record)
            if !wrote {
                // The agent appends over the zeros while the scan is still near the start.
                wrote = true
                try? writer.seek(toOffset: UInt64(bytes.count))
                try? writer.write(contentsOf: Data(later.flatMap(JournalCodec.encode)))
            }
        }
        #expect(wrote)
        #expect(read == records)
        #expect(scan.corrupt.isEmpty && scan.tornTail == nil)
    }

    /// A FIFO (or any file that is not a regular file) is refused rather than read forever.
    @Test func onlyARegularFileIsScanned() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/fifo"
        #expect(mkfifo(path, 0o600) == 0)
        #expect(throws: JournalError.self) { try JournalReader.scanReadOnly(path: path) { _ in } }
    }
}
