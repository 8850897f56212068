import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryJournal

/// The fast decoder must read every line the encoder writes exactly as the general path does,
/// and hand every other line to the general path.
@Suite struct JournalFastDecoderTests {
    /// Records of every type: a random run of the decision functions, then its compaction.
    static func sampleLines(seed: UInt64) -> [[UInt8]] {
        let records = JournalTests.randomRecords(seed: seed, count: 300)
        var ledger = JournalTests.fold(records)
        let now = records.last!.time
        ledger.expireDeliveries(now: now)
        var lines = records.map { Array(JournalCodec.encode($0).dropLast()) }
        let snapshot = JournalCodec.snapshotBytes(of: ledger, at: now)
        lines += snapshot.split(separator: 0x0A).map(Array.init)
        return lines
    }

    /// The line with its checksum recomputed, so that a change reaches the decoders.
    static func resealed(_ body: some Collection<UInt8>) -> [UInt8] {
        let body = Array(body)
        let hex = String(CRC32C.checksum(body), radix: 16)
        return body + Array(#","crc":""#.utf8) + Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8)
            + Array(#""}"#.utf8)
    }

    static func body(of line: [UInt8]) -> ArraySlice<UInt8> { line.dropLast(JournalCodec.suffixLength) }

    static func fast(_ line: [UInt8]) -> JournalRecord? {
        var decoder = JournalCodec.FastDecoder()
        return line.withUnsafeBytes { decoder.record($0) }
    }

    static func general(_ line: [UInt8]) -> Result<JournalRecord, JournalCodec.DecodeError> {
        line.withUnsafeBytes { buffer in
            Result { () throws(JournalCodec.DecodeError) in try JournalCodec.decodeGeneral(buffer) }
        }
    }

    @Test(arguments: [21, 22, 23, 24] as [UInt64])
    func fastDecoderReadsEveryEncodedLineAsTheGeneralPathDoes(seed: UInt64) throws {
        let lines = Self.sampleLines(seed: seed)
        var types = Set<String>()
        var decoder = JournalCodec.FastDecoder()
        for line in lines {
            let general = try Self.general(line).get()
            let fast = try #require(
                line.withUnsafeBytes { decoder.record($0) }, "\(String(decoding: line, as: UTF8.self))")
            #expect(fast == general)
            types.insert(fast.body.typeName)
        }
        #expect(
            types.isSuperset(of: [
                "delivery", "attempt_started", "attempt_finished", "task_snapshot", "deliveries_snapshot", "breaker",
            ]))
    }

    /// Random single-byte changes with a valid checksum: whatever the fast decoder accepts, the
    /// general path reads identically, and `decode` always agrees with the general path.
    @Test(arguments: [31, 32, 33] as [UInt64])
    func mutatedLinesNeverDecodeDifferently(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let lines = Self.sampleLines(seed: seed)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 \nultrfasTZ_"#.utf8) + [0x5C, 0x00, 0xC3, 0xFF]
        var fastAccepted = 0
        for _ in 0..<6000 {
            var body = Array(Self.body(of: lines[random.below(lines.count)]))
            let index = random.below(body.count)
            switch random.below(3) {
            case 0: body[index] = alphabet[random.below(alphabet.count)]
            case 1: body.remove(at: index)
            default: body.insert(alphabet[random.below(alphabet.count)], at: index)
            }
            let line = Self.resealed(body)
            let general = Self.general(line)
            if let fast = Self.fast(line) {
                fastAccepted += 1
                #expect((try? general.get()) == fast, "\(String(decoding: line, as: UTF8.self))")
            }
            let decoded = line.withUnsafeBytes { buffer in
                Result { () throws(JournalCodec.DecodeError) in try JournalCodec.decode(buffer) }
            }
            #expect(decoded == general)
        }
        // Some changes keep the line canonical (a digit in a string, a different valid digit).
        #expect(fastAccepted > 0)
    }

    /// Valid lines in shapes the encoder never writes go to the general path, which reads them.
    @Test(arguments: [
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"state":"open","open_until":null,"trips":1}}"#,
        #"{ "v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"state":"open","trips":1}}"#,
        #"{"seq":3,"v":1,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"state":"open","trips":1}}"#,
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"trips":1,"state":"open"}}"#,
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00Z","type":"breaker","data":{"state":"open","trips":1}}"#,
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"state":"\u006fpen","trips":1}}"#,
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"state":"open","trips":1.0}}"#,
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","data":{"state":"open","trips":1,"note":"x"}}"#,
        #"{"v":1,"seq":3,"time":"2026-11-29T10:00:00.000Z","type":"breaker","task":null,"data":{"state":"open","trips":1}}"#,
    ])
    func otherShapesFallBackToTheGeneralPath(text: String) throws {
        let line = Self.resealed(Array(text.dropLast().utf8))
        let general = try Self.general(line).get()
        #expect(try JournalCodec.decode(line) == general)
        #expect(general.body == .breaker(BreakerSnapshot(state: .open, openUntil: nil, trips: 1)))
        #expect(general.seq == 3)
    }

    /// Replay reads the file in chunks; with chunks smaller than a line every line straddles a
    /// boundary, and the result must not change.
    @Test(arguments: [1, 7, 64, 1000, 1 << 20])
    func chunkedReplayEqualsTheWholeFileScan(chunkSize: Int) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        var bytes: [UInt8] = []
        for line in Self.sampleLines(seed: 41).prefix(280) { bytes += line + [0x0A] }
        let whole = bytes.count
        bytes += Array(
            JournalCodec.encode(JournalRecord(seq: 9999, time: Date(), task: nil, body: .breaker(.closed))).prefix(25))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var scanned: [JournalRecord] = []
        let scan = JournalReader.scan(bytes) { scanned.append($0) }
        let file = try JournalFile(path: path)
        var replayed: [JournalRecord] = []
        let report = try JournalReader.replay(file, chunkSize: chunkSize) { replayed.append($0) }
        #expect(replayed == scanned)
        #expect(report.records == scan.records)
        #expect(report.bytes == Int64(whole))
        #expect(report.truncatedBytes == 25)
        #expect(file.size == Int64(whole))
        let saved = try #require(report.tornTailSavedTo)
        #expect(try Data(contentsOf: URL(fileURLWithPath: saved)) == Data(bytes[whole...]))
    }

    @Test(arguments: [3, 4096])
    func chunkedReplayReportsCorruptionWithTheLineNumber(chunkSize: Int) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        var lines = JournalTests.randomRecords(seed: 6, count: 10).map(JournalCodec.encode)
        lines[6][20] ^= 0x04
        try Data(lines.flatMap { $0 }).write(to: URL(fileURLWithPath: path))
        let file = try JournalFile(path: path)
        do {
            _ = try JournalReader.replay(file, chunkSize: chunkSize) { _ in }
            Issue.record("replay accepted a corrupt journal")
        } catch {
            #expect(error.isCorrupt)
            #expect(error.message.contains("\(path):7:"))
        }
    }

    /// Interned strings are shared and exact (lengths around the 8-byte steps of the hash, a
    /// trailing NUL), a full table or an over-long string still come back right, just without
    /// being kept, and bytes that are not UTF-8 come back as nothing (never repaired).
    @Test func stringTableSharesWhatItHoldsAndStopsAtItsLimits() {
        var table = JournalCodec.StringTable(limit: 3000, maxLength: 64)
        func intern(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBytes { table.string($0) } }
        func address(_ string: String?) -> UnsafePointer<UInt8>? {
            string?.utf8.withContiguousStorageIfAvailable { $0.baseAddress } ?? nil
        }
        let texts = (0..<5000).map { "rpc error: connection reset by peer while fetching block \($0)" }
        let first = texts.map { intern(Array($0.utf8)) }
        #expect(first == texts)
        #expect(table.count == 3000)
        let again = texts.map { intern(Array($0.utf8)) }
        #expect(again == texts)
        #expect(table.count == 3000)
        // The kept ones come back as the very same buffer; the others are new copies.
        #expect(address(again[10]) == address(first[10]))
        #expect(address(again[4000]) != address(first[4000]))

        var small = JournalCodec.StringTable(limit: 100, maxLength: 64)
        let shapes: [[UInt8]] =
            (0...17).map { Array(String(repeating: "x", count: $0).utf8) } + [Array("a".utf8), Array("a\u{0}".utf8)]
        for shape in shapes { #expect(shape.withUnsafeBytes { small.string($0) }.map { Array($0.utf8) } == shape) }
        for shape in shapes { #expect(shape.withUnsafeBytes { small.string($0) }.map { Array($0.utf8) } == shape) }
        #expect(small.count == shapes.count)

        // A preset string is handed out itself.
        let status = TaskStatusInfo.documentedStatuses[12]
        var preset = JournalCodec.StringTable(limit: 100, maxLength: 64, preset: [status])
        #expect(preset.count == 1)
        let read = Array(status.utf8).withUnsafeBytes { preset.string($0) }
        #expect(read == status)
        #expect(address(read) == address(status))

        let long = String(repeating: "y", count: 65)
        #expect(Array(long.utf8).withUnsafeBytes { small.string($0) } == long)
        let invalid: [UInt8] = [0x61, 0xF0, 0x9F, 0x98]
        #expect(invalid.withUnsafeBytes { small.string($0) } == nil)
        #expect(small.count == shapes.count)
    }
}
