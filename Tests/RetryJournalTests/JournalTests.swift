import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryJournal

@Suite struct JournalTests {

    static let tasks = (0..<8).map {
        TaskID("01JPJ03YJT1A93D6NF56G4GV\(["A0", "A1", "A2", "A3", "B0", "B1", "C0", "C1"][$0])")!
    }

    /// Drives a ledger with random deliveries and dispatcher outcomes, returning the records made.
    static func randomRecords(seed: UInt64, count: Int) -> [JournalRecord] {
        var random = SeededGenerator(seed: seed)
        var ledger = Ledger(dedupWindow: .seconds(600))
        var records: [JournalRecord] = []
        var time = Date(timeIntervalSince1970: 1_800_000_000)
        func append(_ body: RecordBody, _ task: TaskID?) {
            let record = JournalRecord(seq: ledger.lastSeq + 1, time: time, task: task, body: body)
            ledger.apply(record)
            records.append(record)
        }
        let statuses = [
            "AtlanticProvingFailed", "TraceGenFailed", "TaskDecommitmentFailed", "Received", "IgnoredFailed",
        ]
        while records.count < count {
            time = time.addingTimeInterval(Double(random.below(30_000)) / 1000).roundedToMilliseconds
            let task = tasks[Int(random.below(tasks.count))]
            switch random.below(5) {
            case 0, 1:
                let status = statuses[Int(random.below(statuses.count))]
                let input = DeliveryInput(
                    notice: FailureNotice(
                        task: task, status: status, error: "error \"\(random.below(9))\"\n", timestamp: time),
                    deliveryID: "d\(random.below(40))", correlationID: "c\(records.count)"
                )
                if case .record(let delivery) = ledger.decide(input, now: time, jitter: 0.3, classify: simpleClassifier)
                {
                    append(.delivery(delivery), task)
                }
            case 2:
                for due in ledger.takeDue(now: time, limit: 2) {
                    let outcome: HDPStatusOutcome =
                        [
                            .status(TaskStatusInfo(status: "AtlanticProvingFailed", errorMessage: "x", updatedAt: nil)),
                            .failure(.timeout), .failure(.notFound),
                            .status(TaskStatusInfo(status: "Received", errorMessage: nil, updatedAt: nil)),
                        ][Int(random.below(4))]
                    switch ledger.decideAfterStatus(
                        of: due, outcome: outcome, now: time, jitter: 0.7, retryAfterCap: .seconds(60),
                        classify: simpleClassifier)
                    {
                    case .call(let started)?:
                        append(.attemptStarted(started), due)
                        if random.below(6) == 0 { continue }  // a crash: never finished
                        let call: HDPCallOutcome = [
                            .accepted, .serverError(httpStatus: 502), .rateLimited(retryAfter: .seconds(3)),
                            .rejected(details: "no"),
                        ][Int(random.below(4))]
                        if let finished = ledger.decideAfterCall(
                            of: due, outcome: call, now: time, jitter: 0.1, retryAfterCap: .seconds(60))
                        {
                            append(.attemptFinished(finished), due)
                        }
                    case .end(let ended)?: append(.episodeEnded(ended), due)
                    case .later(let finished)?: append(.attemptFinished(finished), due)
                    case nil: break
                    }
                }
            case 3:
                append(
                    .breaker(
                        BreakerSnapshot(
                            state: [.open, .halfOpen, .closed][Int(random.below(3))],
                            openUntil: time.addingTimeInterval(30), trips: Int(random.below(4)))), nil)
            default:
                ledger.expireDeliveries(now: time)
            }
        }
        return records
    }

    static func fold(_ records: [JournalRecord], window: Duration = .seconds(600)) -> Ledger {
        var ledger = Ledger(dedupWindow: window)
        for record in records { ledger.apply(record) }
        return ledger
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func replayOfTheEncodedJournalEqualsLiveState(seed: UInt64) throws {
        let records = Self.randomRecords(seed: seed, count: 400)
        let live = Self.fold(records)
        var bytes: [UInt8] = []
        for record in records { bytes += JournalCodec.encode(record) }
        var replayed = Ledger(dedupWindow: .seconds(600))
        var decoded: [JournalRecord] = []
        let scan = JournalReader.scan(bytes) { record in
            decoded.append(record)
            replayed.apply(record)
        }
        #expect(scan.corrupt.isEmpty)
        #expect(scan.tornTail == nil)
        #expect(decoded == records)
        #expect(replayed.tasks == live.tasks)
        #expect(replayed.deliveries == live.deliveries)
        #expect(replayed.breaker == live.breaker)
    }

    /// `Ledger.replay` (table sized up front, due queue rebuilt once at the end, decoding on a
    /// second thread for files longer than a chunk) must leave the state live operation leaves,
    /// due queue included.
    @Test(arguments: [(1, 1 << 22), (2, 1 << 22), (3, 512), (4, 4096), (5, 64)] as [(UInt64, Int)])
    func ledgerReplayOfTheFileEqualsLiveState(seed: UInt64, chunkSize: Int) throws {
        let records = Self.randomRecords(seed: seed, count: 3000)
        var live = Self.fold(records)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        try Data(records.flatMap(JournalCodec.encode)).write(to: URL(fileURLWithPath: path))
        let file = try JournalFile(path: path)
        var replayed = Ledger(dedupWindow: .seconds(600))
        let report = try replayed.replay(file, chunkSize: chunkSize)
        #expect(report.records == records.count)
        #expect(report.truncatedBytes == 0)
        #expect(replayed.tasks == live.tasks)
        #expect(replayed.deliveries == live.deliveries)
        #expect(replayed.breaker == live.breaker)
        #expect(replayed.lastSeq == live.lastSeq)
        #expect(replayed.anomalies == live.anomalies)
        let now = try #require(records.last).time
        for probe in records.suffix(50) {
            if case .delivery(let delivery) = probe.body {
                #expect(
                    replayed.seenDelivery(delivery.deliveryKey, now: now)
                        == live.seenDelivery(delivery.deliveryKey, now: now))
            }
        }
        #expect(replayed.nextDue() != nil)
        #expect(replayed.nextDue() == live.nextDue())
        let later = now.addingTimeInterval(86_400)
        #expect(replayed.takeDue(now: later, limit: 100) == live.takeDue(now: later, limit: 100))
        // After replay, scheduling is live again: a rescheduled task goes back into the queue.
        let task = try #require(live.tasks.first { $0.value.episode != nil }?.key)
        live.putBack(task)
        replayed.putBack(task)
        #expect(replayed.nextDue() == live.nextDue())
        #expect(replayed.takeDue(now: later, limit: 100) == [task])
    }

    /// More records than the pipelined reader hands over at once, in chunks small enough to make
    /// the decoder wait for the applier: the records arrive complete and in order.
    @Test(arguments: [256, 8192])
    func pipelinedReplayHandsOverEveryRecordInOrder(chunkSize: Int) throws {
        let records = Self.randomRecords(seed: 9, count: 3 * JournalReader.batchSize + 17)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        try Data(records.flatMap(JournalCodec.encode)).write(to: URL(fileURLWithPath: path))
        let file = try JournalFile(path: path)
        #expect(file.size > Int64(chunkSize))
        var replayed: [JournalRecord] = []
        let report = try JournalReader.replayPipelined(file, chunkSize: chunkSize) { replayed.append($0) }
        #expect(replayed == records)
        #expect(report.records == records.count)
        #expect(report.bytes == file.size)
    }

    @Test(arguments: [11, 12, 13, 14] as [UInt64])
    func compactionThenReplayEqualsLiveState(seed: UInt64) throws {
        let records = Self.randomRecords(seed: seed, count: 300)
        var live = Self.fold(records)
        let now = records.last!.time
        live.expireDeliveries(now: now)
        let snapshot = JournalCodec.snapshotBytes(of: live, at: now)
        var replayed = Ledger(dedupWindow: .seconds(600))
        let scan = JournalReader.scan(snapshot) { replayed.apply($0) }
        #expect(scan.corrupt.isEmpty)
        #expect(replayed.tasks == live.tasks)
        #expect(replayed.deliveries.keys.sorted() == live.deliveries.keys.sorted())
        #expect(replayed.breaker == live.breaker)
        #expect(replayed.lastSeq == live.lastSeq)
        var a = live
        var b = replayed
        #expect(a.nextDue() == b.nextDue())
    }

    @Test func everyFlippedByteIsDetected() throws {
        let record = Self.randomRecords(seed: 99, count: 1)[0]
        let line = Array(JournalCodec.encode(record).dropLast())
        #expect((try? JournalCodec.decode(line)) == record)
        for index in line.indices {
            var corrupted = line
            corrupted[index] ^= 0x01
            #expect((try? JournalCodec.decode(corrupted)) == nil, "flip at byte \(index) went unnoticed")
        }
    }

    @Test func tornTailIsCutOffAndKeptAside() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        let records = Self.randomRecords(seed: 5, count: 20)
        var bytes: [UInt8] = []
        for record in records { bytes += JournalCodec.encode(record) }
        let whole = bytes.count
        bytes += Array(
            JournalCodec.encode(JournalRecord(seq: 999, time: Date(), task: nil, body: .breaker(.closed))).prefix(30))
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let file = try JournalFile(path: path)
        var count = 0
        let report = try JournalReader.replay(file) { _ in count += 1 }
        #expect(count == records.count)
        #expect(report.truncatedBytes == 30)
        #expect(file.size == Int64(whole))
        let saved = try #require(report.tornTailSavedTo)
        #expect(try Data(contentsOf: URL(fileURLWithPath: saved)).count == 30)
    }

    /// A last line that ends in a newline with a matching checksum was written whole: whatever
    /// makes it unreadable (a record this build does not know, a time out of range), a crash did
    /// not, so it is not cut off as a torn tail (that would drop an acknowledged record) but stops
    /// the start, and the file is left as it was. A line with a bad checksum after it is still
    /// part of the same refusal.
    @Test(arguments: [false, true])
    func anIntactUnreadableLastLineIsNotATornTail(followedByTornBytes: Bool) throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        let records = Self.randomRecords(seed: 7, count: 10)
        var bytes = records.flatMap(JournalCodec.encode)
        let line = records.count + 1
        let body =
            #"{"v":1,"seq":\#((records.last?.seq ?? 0) + 1),"time":"10000-01-01T00:00:00.000Z","type":"breaker","data":{"state":"closed","trips":0}"#
        bytes +=
            Array((body + #","crc":"\#(String(format: "%08x", CRC32C.checksum(Array(body.utf8))))"}"#).utf8) + [0x0A]
        if followedByTornBytes { bytes += Array(#"{"v":1,"seq":12,"ti"#.utf8) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let file = try JournalFile(path: path)
        do {
            _ = try JournalReader.replay(file) { _ in }
            Issue.record("replay cut off or accepted an intact unreadable line")
        } catch {
            #expect(error.isCorrupt)
            #expect(error.message.contains("\(path):\(line):"))
        }
        #expect(file.size == Int64(bytes.count))
        let scan = JournalReader.scan(bytes) { _ in }
        #expect(scan.tornTail == nil)
        #expect(scan.corrupt.map(\.line) == (followedByTornBytes ? [line, line + 1] : [line]))
        #expect(scan.corrupt.first?.intact == true)
    }

    @Test func corruptionInTheMiddleRefusesTheStartWithFileAndLine() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.jsonl"
        var lines = Self.randomRecords(seed: 6, count: 10).map(JournalCodec.encode)
        lines[4][12] ^= 0x02
        try Data(lines.flatMap { $0 }).write(to: URL(fileURLWithPath: path))
        let file = try JournalFile(path: path)
        do {
            _ = try JournalReader.replay(file) { _ in }
            Issue.record("replay accepted a corrupt journal")
        } catch {
            #expect(error.isCorrupt)
            #expect(error.message.contains("\(path):5:"))
        }
    }

    @Test func secondAgentOnTheSameJournalIsRefused() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try JournalFile(path: directory + "/journal.jsonl")
        do {
            _ = try JournalFile(path: directory + "/journal.jsonl")
            Issue.record("a second writer got the lock")
        } catch {
            #expect(error.isLocked)
            #expect(error.message.contains("pid \(getpid())"))
        }
        _ = first
    }

    @Test func iso8601RoundTripsAtMillisecondPrecision() {
        for milliseconds in [Int64(0), 1_764_410_000_123, 1_800_000_000_999, 951_782_400_000] {
            let date = Date(millisecondsSince1970: milliseconds)
            #expect(ISO8601.parse(ISO8601.format(date)) == date)
        }
        #expect(ISO8601.parse("2026-11-29T10:00:00Z") == Date(timeIntervalSince1970: 1_795_946_400))
        #expect(ISO8601.parse("2026-11-29T12:00:00+02:00") == Date(timeIntervalSince1970: 1_795_946_400))
        #expect(ISO8601.parse("yesterday") == nil)
    }
}
