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
}
