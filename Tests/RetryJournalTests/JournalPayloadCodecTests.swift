import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryJournal

/// The payload a delivery record keeps (and a snapshot's open episode): written last, as
/// canonical JSON; read the same by both decoders; absent from lines written before.
@Suite struct JournalPayloadCodecTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000.125)

    static func delivery(payload: DeliveryPayload?) -> JournalRecord {
        let record = DeliveryRecord(
            deliveryID: "msg_1", correlationID: "6bb72d1d0eb3d", status: "TraceGenFailed", error: "rpc timeout",
            noticeTime: time, decision: .gaveUp, reason: .rule, rule: "default", schedule: nil, payload: payload)
        return JournalRecord(seq: 7, time: time, task: sampleTask, body: .delivery(record))
    }

    static func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    static func text(_ record: JournalRecord) -> String { String(decoding: JournalCodec.encode(record), as: UTF8.self) }

    @Test func theLineEndsWithThePayloadAndBothDecodersReadItBack() throws {
        let body = try Self.json(
            #"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","error":"rpc \"timeout\"\n","data":{"chain_id":11155111,"tags":["a",true,null],"ratio":0.25}}"#
        )
        let record = Self.delivery(payload: DeliveryPayload(whole: body))
        let line = Self.text(record)
        #expect(
            line.contains(
                #""rule":"default","payload":{"data":{"chain_id":11155111,"ratio":0.25,"tags":["a",true,null]},"error":"rpc \"timeout\"\n","status":"TraceGenFailed","task_id":"01JPJ03YJT1A93D6NF56G4GVEQ"}},"crc":""#
            ), "\(line)")
        let (fast, general) = try JournalReconcileCodecTests.bothPaths(JournalCodec.encode(record))
        #expect(general == record)
        // 0.25 is not an integer: that line takes the general path, and reads the same.
        #expect(fast == nil)
        #expect(try JournalCodec.decode(Array(JournalCodec.encode(record).dropLast())) == record)
        guard case .delivery(let decoded) = general.body else { throw Failure() }
        #expect(decoded.payload?.value == body)
    }

    struct Failure: Error {}

    @Test(arguments: [
        #"{"status":"TraceGenFailed","task_id":"01JPJ03YJT1A93D6NF56G4GVEQ"}"#,
        #"{"a":{"b":{"c":[1,-2,0,[],{}]}},"e":"tab\there \\ \u0001 \"q\" é €","n":null,"t":false}"#,
        #"[1,"x",{"k":"v"}]"#,
        #""just a string""#,
        #"{"":0,"a":999999999999999,"b":-999999999999999}"#,
    ])
    func canonicalPayloadsTakeTheFastPath(text: String) throws {
        let record = Self.delivery(payload: DeliveryPayload(whole: try Self.json(text)))
        let (fast, general) = try JournalReconcileCodecTests.bothPaths(JournalCodec.encode(record))
        #expect(general == record)
        #expect(fast == record)
    }

    @Test func aCutDownPayloadRoundTripsWithItsKeptPaths() throws {
        let body = JSONValue.object([
            "data": .object(["chain_id": .number(1)]), "logs": .string(String(repeating: "z", count: 6000)),
        ])
        let payload = DeliveryPayload.bounded(body, keeping: ["data.chain_id", "data.region"])
        let record = Self.delivery(payload: payload)
        let line = Self.text(record)
        #expect(
            line.contains(
                #""payload_truncated":["data.chain_id","data.region"],"payload":{"data":{"chain_id":1}}},"crc""#))
        let (fast, general) = try JournalReconcileCodecTests.bothPaths(JournalCodec.encode(record))
        #expect(fast == record && general == record)
        // The bound holds for the whole line: the body was 6 KB, the line is not.
        #expect(line.utf8.count < 600)
    }

    @Test func aLineWithoutAPayloadReadsAsNoPayload() throws {
        let record = Self.delivery(payload: nil)
        #expect(!Self.text(record).contains("payload"))
        let (fast, general) = try JournalReconcileCodecTests.bothPaths(JournalCodec.encode(record))
        #expect(fast == record && general == record)
        guard case .delivery(let delivery) = general.body else { throw Failure() }
        #expect(delivery.payload == nil)
    }

    /// Payloads written another way than the encoder's (hand edits, other tools) are read by the
    /// general path, which writes them canonically; the fast path never reads them differently.
    @Test(
        arguments: [
            (#"{"b":1,"a":2}"#, #"{"a":2,"b":1}"#),
            (#"{"a": 2}"#, #"{"a":2}"#),
            (#"{"a":2.0}"#, #"{"a":2}"#),
            (#"{"a":-0}"#, #"{"a":0}"#),
            (#"{"a":1e2}"#, #"{"a":100}"#),
            (#"{"a":"\u0041"}"#, #"{"a":"A"}"#),
            (#"{"a":"\/"}"#, #"{"a":"/"}"#),
            (#"{"\u0061":1}"#, #"{"a":1}"#),
            (#"{"a":1234567890123456}"#, #"{"a":1234567890123456.0}"#),
            (#"null"#, nil),
        ] as [(String, String?)])
    func otherSpellingsTakeTheGeneralPath(written: String, canonical: String?) throws {
        let canonicalLine = Self.text(Self.delivery(payload: DeliveryPayload(canonicalJSON: "{}", keptPaths: nil)))
        let body = canonicalLine.prefix { $0 != "\n" }.dropLast(JournalCodec.suffixLength)
        let edited = body.replacingOccurrences(of: #""payload":{}"#, with: #""payload":"# + written)
        let line = JournalFastDecoderTests.resealed(Array(edited.utf8))
        #expect(JournalFastDecoderTests.fast(line) == nil)
        let general = try JournalFastDecoderTests.general(line).get()
        guard case .delivery(let delivery) = general.body else { throw Failure() }
        #expect(delivery.payload?.json == canonical)
        #expect(try JournalCodec.decode(line) == general)
    }

    @Test func aTruncationMarkWithoutAPayloadIsRefused() throws {
        let line = Self.text(Self.delivery(payload: nil))
        let body = line.prefix { $0 != "\n" }.dropLast(JournalCodec.suffixLength)
        let edited = body.replacingOccurrences(
            of: #""rule":"default"}"#, with: #""rule":"default","payload_truncated":["a"]}"#)
        let resealed = JournalFastDecoderTests.resealed(Array(edited.utf8))
        #expect(JournalFastDecoderTests.fast(resealed) == nil)
        #expect((try? JournalCodec.decode(resealed)) == nil)
    }

    @Test func aSnapshotKeepsTheOpenEpisodesPayload() throws {
        let schedule = EpisodeSchedule(
            rule: "transient", maxAttempts: 3, backoff: .standard, due: Self.time.addingTimeInterval(30))
        let payload = DeliveryPayload(whole: try Self.json(#"{"data":{"chain_id":1},"task_id":"x"}"#))
        let episode = Episode(
            openedSeq: 3, openedAt: Self.time, correlationID: "c", schedule: schedule, status: "TraceGenFailed",
            error: nil, tries: 1, inFlightAttempt: nil, payload: payload)
        let record = JournalRecord(
            seq: 9, time: Self.time, task: sampleTask,
            body: .taskSnapshot(TaskSnapshot(attempts: 0, lastAcceptedAt: nil, state: .pending, episode: episode)))
        #expect(Self.text(record).contains(#""tries":1,"payload":{"data":{"chain_id":1},"task_id":"x"}}}"#))
        let (fast, general) = try JournalReconcileCodecTests.bothPaths(JournalCodec.encode(record))
        #expect(fast == record && general == record)
    }

    /// Random JSON values, written into delivery lines: the fast path reads every line it accepts
    /// as the general path does, and accepts every one whose numbers are small integers.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomPayloadsReadTheSameOnBothPaths(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var fastCount = 0
        for _ in 0..<400 {
            // A body is never `null` (a `null` payload reads as none); anything else may be.
            var (value, integral) = Self.randomValue(&random, depth: 0)
            if value == .null { (value, integral) = (.object(["n": .null]), true) }
            let record = Self.delivery(payload: DeliveryPayload(whole: value))
            let (fast, general) = try JournalReconcileCodecTests.bothPaths(JournalCodec.encode(record))
            #expect(general == record)
            if let fast {
                fastCount += 1
                #expect(fast == general)
            } else {
                #expect(!integral, "\(Self.text(record))")
            }
        }
        #expect(fastCount > 100)
    }

    static func randomValue(_ random: inout SeededGenerator, depth: Int) -> (JSONValue, integral: Bool) {
        let texts = ["", "a", "é", "\"", "\\", "\n", "\u{1}", "tab\t", "€uro", "x y", "/", "\u{7F}", "🙂"]
        switch random.below(depth > 3 ? 5 : 7) {
        case 0: return (.null, true)
        case 1: return (.bool(random.below(2) == 0), true)
        case 2:
            let integer = Double(Int(random.below(2_000_000)) - 1_000_000)
            return (.number(integer), true)
        case 3:
            let fraction = Double(random.below(1000)) / 7
            return (.number(fraction), fraction.rounded() == fraction)
        case 4:
            let parts = (0..<random.below(3)).map { _ in texts[random.below(texts.count)] }
            return (.string(parts.joined()), true)
        case 5:
            var integral = true
            let items = (0..<random.below(4)).map { _ in
                let (item, whole) = randomValue(&random, depth: depth + 1)
                integral = integral && whole
                return item
            }
            return (.array(items), integral)
        default:
            var integral = true
            var members: [String: JSONValue] = [:]
            for _ in 0..<random.below(5) {
                let (item, whole) = randomValue(&random, depth: depth + 1)
                let name = ["a", "b", "B", "ab", "é", "", "z1", "data", "chain_id"][random.below(9)]
                members[name] = item
                integral = integral && whole
            }
            // A member whose value is dropped by a later one of the same name no longer counts.
            integral = members.values.allSatisfy { Self.isIntegral($0) }
            return (.object(members), integral)
        }
    }

    static func isIntegral(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let number): number.rounded() == number
        case .array(let items): items.allSatisfy(isIntegral)
        case .object(let members): members.values.allSatisfy(isIntegral)
        default: true
        }
    }
}
