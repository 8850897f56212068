import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryJournal

/// The journal fields reconciliation adds: a delivery's `source` (written only when it is not
/// `webhook`) and a task snapshot's `decided_through`. Old lines without them read as before, on
/// both decoding paths.
@Suite struct JournalReconcileCodecTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000.125)

    static func delivery(source: DeliverySource) -> JournalRecord {
        let record = DeliveryRecord(
            deliveryID: source == .reconcile ? "reconcile:\(sampleTask.rawValue):2027-01-15T08:00:00.125Z" : "msg_1",
            correlationID: "6bb72d1d0eb3d", status: "TraceGenFailed", error: "rpc timeout", noticeTime: time,
            decision: .retryScheduled, reason: .rule, rule: "transient",
            schedule: EpisodeSchedule(
                rule: "transient", maxAttempts: 3,
                backoff: BackoffPolicy(initial: .seconds(30), factor: 2, max: .seconds(1800), jitter: .full),
                due: time.addingTimeInterval(30)),
            source: source)
        return JournalRecord(seq: 7, time: time, task: sampleTask, body: .delivery(record))
    }

    static func text(_ record: JournalRecord) -> String { String(decoding: JournalCodec.encode(record), as: UTF8.self) }

    static func bothPaths(_ line: [UInt8]) throws -> (fast: JournalRecord?, general: JournalRecord) {
        let trimmed = line.last == 0x0A ? Array(line.dropLast()) : line
        return (JournalFastDecoderTests.fast(trimmed), try JournalFastDecoderTests.general(trimmed).get())
    }

    @Test("a webhook delivery's line has no source field; a sweep's says reconcile; both read back on both paths")
    func sourceRoundTrips() throws {
        let webhook = Self.delivery(source: .webhook)
        let reconcile = Self.delivery(source: .reconcile)
        #expect(!Self.text(webhook).contains("source"))
        #expect(
            Self.text(reconcile).contains(
                #""delivery_id":"reconcile:01JPJ03YJT1A93D6NF56G4GVEQ:2027-01-15T08:00:00.125Z","source":"reconcile","correlation_id""#
            ))
        for record in [webhook, reconcile] {
            let (fast, general) = try Self.bothPaths(JournalCodec.encode(record))
            #expect(fast == record)
            #expect(general == record)
            #expect(try JournalCodec.decode(JournalCodec.encode(record).dropLast().map { $0 }) == record)
        }
    }

    @Test("a delivery line written before reconciliation existed reads as a webhook delivery")
    func oldLinesReadAsWebhook() throws {
        // The first example line of the README's journal section, byte for byte.
        let line =
            #"{"v":1,"seq":1,"time":"2027-01-15T08:00:00.125Z","type":"delivery","task":"01JX65EJZAVAPZZ7WC26YN4YR5","data":{"delivery_id":"msg_10000000Rke26BpnGYga34LFzPJ","correlation_id":"6bb72d1d0eb3d","status":"TraceGenFailed","error":"rpc error: connection reset by peer while fetching block 21874512","notice_time":"2027-01-15T07:59:58.125Z","decision":"retry_scheduled","reason":"rule","rule":"transient-network","schedule":{"rule":"transient-network","max_attempts":3,"backoff":{"initial":"30s","factor":2,"max":"30m","jitter":"full"},"due":"2027-01-15T08:00:13.295Z"}},"crc":"245a3b30"}"#
        let (fast, general) = try Self.bothPaths(Array(line.utf8))
        guard case .delivery(let delivery) = general.body else {
            Issue.record("not a delivery")
            return
        }
        #expect(delivery.source == .webhook)
        #expect(fast == general)
        // Re-encoded, it is the same line: the field is not added to old records.
        #expect(Self.text(general) == line + "\n")
    }

    @Test("the general path reads source in any position and refuses a word it does not know")
    func generalPathSource() throws {
        let encoded = Self.text(Self.delivery(source: .reconcile))
        let body = encoded.prefix(encoded.count - 1 - JournalCodec.suffixLength)
        let moved = body.replacingOccurrences(of: #","source":"reconcile""#, with: "")
            .replacingOccurrences(
                of: #""rule":"transient","schedule""#, with: #""rule":"transient","source":"reconcile","schedule""#)
        let movedLine = JournalFastDecoderTests.resealed(Array(moved.utf8))
        #expect(JournalFastDecoderTests.fast(movedLine) == nil)
        #expect(try JournalCodec.decode(movedLine) == Self.delivery(source: .reconcile))

        let unknown = JournalFastDecoderTests.resealed(
            Array(body.replacingOccurrences(of: #""source":"reconcile""#, with: #""source":"relay""#).utf8))
        #expect(JournalFastDecoderTests.fast(unknown) == nil)
        #expect(throws: JournalCodec.DecodeError.self) { try JournalCodec.decode(unknown) }
    }

    @Test("decided_through round-trips in task snapshots; snapshots without it still read")
    func decidedThroughRoundTrips() throws {
        let with = JournalRecord(
            seq: 9, time: Self.time, task: sampleTask,
            body: .taskSnapshot(
                TaskSnapshot(
                    attempts: 1, lastAcceptedAt: Self.time, state: .ended(.gaveUp), episode: nil,
                    decidedThrough: Self.time.addingTimeInterval(5))))
        #expect(Self.text(with).contains(#""state":"gave_up","decided_through":"2027-01-15T08:00:05.125Z""#))
        let (fast, general) = try Self.bothPaths(JournalCodec.encode(with))
        #expect(fast == with && general == with)

        let without = JournalRecord(
            seq: 9, time: Self.time, task: sampleTask,
            body: .taskSnapshot(TaskSnapshot(attempts: 0, lastAcceptedAt: nil, state: .ended(.ignored), episode: nil)))
        #expect(!Self.text(without).contains("decided_through"))
        let (fastOld, generalOld) = try Self.bothPaths(JournalCodec.encode(without))
        #expect(fastOld == without && generalOld == without)
    }

    @Test("a journal with sweep deliveries replays to the same state as the ledger that wrote it")
    func replayKeepsSourceAndDecidedThrough() throws {
        var ledger = Ledger(dedupWindow: .seconds(86_400))
        var bytes: [UInt8] = []
        for (offset, source) in [DeliverySource.reconcile, .webhook].enumerated() {
            var record = Self.delivery(source: source)
            record.seq = UInt64(offset + 1)
            bytes += JournalCodec.encode(record)
            ledger.apply(record)
        }
        var replayed = Ledger(dedupWindow: .seconds(86_400))
        var sources: [DeliverySource] = []
        let scan = JournalReader.scan(bytes) { record in
            if case .delivery(let delivery) = record.body { sources.append(delivery.source) }
            replayed.apply(record)
        }
        #expect(scan.corrupt.isEmpty)
        #expect(sources == [.reconcile, .webhook])
        #expect(replayed.tasks == ledger.tasks)
        #expect(replayed.tasks[sampleTask]?.decidedThrough == Self.time)
    }
}
