import Foundation
import RetryTesting
import Testing

@testable import RetryCore

/// What a delivery record keeps of a notice's body, and the decisions that use it.
@Suite struct DeliveryPayloadTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func canonicalJSONSortsMembersByTheirBytesAndIsTheSameForEqualValues() throws {
        let one = try Self.json(#"{"b":1,"a":{"z":[true,null,"x\"y"],"B":2.5},"é":"é","A":-3}"#)
        let other = try Self.json(#" { "A" : -3, "é":"\u00e9", "a":{"B":2.5,"z":[true,null,"x\"y"]}, "b":1.0 } "#)
        let bytes = JSONWriter.canonical(one)
        #expect(
            String(decoding: bytes, as: UTF8.self) == #"{"A":-3,"a":{"B":2.5,"z":[true,null,"x\"y"]},"b":1,"é":"é"}"#)
        #expect(JSONWriter.canonical(other) == bytes)
        #expect(try JSONParser.parse(bytes) == one)
    }

    @Test func aBodyWithinTheBoundIsKeptWhole() throws {
        let body = try Self.json(
            #"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","data":{"chain_id":1}}"#)
        let payload = DeliveryPayload.bounded(body, keeping: ["data.chain_id"])
        #expect(!payload.isTruncated && payload.keptPaths == nil)
        #expect(payload.value == body)
        #expect(payload.knows(path: "anything.at.all"))
    }

    @Test func aLargerBodyKeepsOnlyThePathsTheRulesReadWithinTheBound() throws {
        let blob = String(repeating: "x", count: 5000)
        let body = JSONValue.object([
            "task_id": .string("01JPJ03YJT1A93D6NF56G4GVEQ"), "status": .string("TraceGenFailed"),
            "logs": .string(blob),
            "data": .object(["chain_id": .number(11_155_111), "other": .string("dropped")]),
            "items": .array([.object(["id": .number(1)]), .object(["id": .number(2), "big": .string(blob)])]),
            "huge": .object(["text": .string(blob)]),
        ])
        let payload = DeliveryPayload.bounded(
            body, keeping: ["data.chain_id", "items.1.id", "missing.path", "huge", "data.chain_id"])
        #expect(payload.isTruncated)
        // `huge` alone is over the bound: left out, so a later decision knows it is missing.
        #expect(payload.keptPaths == ["data.chain_id", "items.1.id", "missing.path"])
        #expect(payload.json == #"{"data":{"chain_id":11155111},"items":[null,{"id":2}]}"#)
        #expect(payload.json.utf8.count <= DeliveryPayload.maximumBytes)
        #expect(payload.value[path: "data.chain_id"] == .number(11_155_111))
        #expect(payload.value[path: "items.1.id"] == .number(2))
        #expect(payload.knows(path: "data.chain_id") && payload.knows(path: "missing.path"))
        #expect(payload.knows(path: "items.1.id"))
        #expect(!payload.knows(path: "data") && !payload.knows(path: "data.other") && !payload.knows(path: "huge"))
        #expect(!payload.knows(path: "data.chain"))
    }

    @Test func aLargeBodyWithNoPathsKeepsAnEmptyObjectMarkedTruncated() {
        let body = JSONValue.object(["logs": .string(String(repeating: "y", count: 4100))])
        let payload = DeliveryPayload.bounded(body, keeping: [])
        #expect(payload.json == "{}" && payload.keptPaths == [])
        #expect(!payload.knows(path: "logs"))
    }

    @Test func ruleDecidedDeliveriesKeepThePayloadAndOthersDoNot() throws {
        var ledger = Ledger(dedupWindow: .seconds(3600))
        let body = try Self.json(
            #"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"AtlanticProvingFailed","error":"prover timeout","data":{"chain_id":1}}"#
        )
        func deliver(_ id: String, status: String = "AtlanticProvingFailed", at time: Date) -> DeliveryRecord? {
            var payload = body
            if case .object(var members) = payload {
                members["status"] = .string(status)
                payload = .object(members)
            }
            let notice = FailureNotice(
                taskID: sampleTask, status: status, error: "prover timeout", timestamp: time, payload: payload)
            let input = DeliveryInput(notice: notice, deliveryID: id, correlationID: "c")
            guard case .record(let record) = ledger.decide(input, now: time, jitter: 0.5, classify: simpleClassifier)
            else { return nil }
            ledger.apply(JournalRecord(seq: ledger.lastSeq + 1, time: time, task: sampleTask, body: .delivery(record)))
            return record
        }
        let opened = try #require(deliver("a", at: start))
        #expect(opened.decision == .retryScheduled)
        #expect(opened.payload == DeliveryPayload(whole: body))
        // The record keeps the whole body; the episode what rules can read of it.
        #expect(ledger.tasks[sampleTask]?.episode?.payload == opened.payload?.forReclassification)
        #expect(ledger.tasks[sampleTask]?.episode?.payload?.json == #"{"data":{"chain_id":1}}"#)
        let joined = try #require(deliver("b", at: start.addingTimeInterval(1)))
        #expect(joined.decision == .coalesced && joined.payload == nil)
        let success = try #require(deliver("c", status: "Finished", at: start.addingTimeInterval(2)))
        #expect(success.reason == .notAFailure && success.payload == nil)
        let givenUp = try #require(deliver("d", status: "TaskDecommitmentFailed", at: start.addingTimeInterval(3)))
        #expect(givenUp.reason == .openEpisode)  // still the open episode
    }

    @Test func exhaustedAndGivenUpDeliveriesKeepThePayloadToo() throws {
        var entry = TaskEntry(updatedAt: start)
        entry.attempts = 3
        let notice = FailureNotice(task: sampleTask, status: "TraceGenFailed", error: "x", timestamp: nil)
        let input = DeliveryInput(notice: notice, deliveryID: "e", correlationID: "c")
        guard
            case .record(let exhausted) = Decisions.delivery(
                input, seen: nil, entry: entry, now: start, jitter: 0, classify: simpleClassifier)
        else { throw EquatableFailure() }
        #expect(exhausted.decision == .exhausted && exhausted.payload == DeliveryPayload(whole: notice.payload))
        let decommitment = FailureNotice(task: sampleTask, status: "TaskDecommitmentFailed", error: nil, timestamp: nil)
        guard
            case .record(let gaveUp) = Decisions.delivery(
                DeliveryInput(notice: decommitment, deliveryID: "f", correlationID: "c"), seen: nil, entry: nil,
                now: start, jitter: 0, classify: simpleClassifier)
        else { throw EquatableFailure() }
        #expect(gaveUp.decision == .gaveUp && gaveUp.payload == DeliveryPayload(whole: decommitment.payload))
    }

    struct EquatableFailure: Error {}

    /// A reclassification after a status check reads the payload of the notice that opened the
    /// episode, with the fresh status and error.
    @Test func reclassificationSeesTheOriginalPayloadWithTheFreshStatusAndError() throws {
        var seen: [RuleEvent] = []
        let classify: (RuleEvent) -> Classification = { event in
            seen.append(event)
            return simpleClassifier(event)
        }
        var ledger = Ledger(dedupWindow: .seconds(3600))
        let body = try Self.json(
            #"{"type":"task.failed","data":{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","chain_id":11155111}}"#
        )
        let notice = FailureNotice(
            taskID: sampleTask, status: "TraceGenFailed", error: nil, timestamp: nil, payload: body)
        guard
            case .record(let record) = ledger.decide(
                DeliveryInput(notice: notice, deliveryID: "a", correlationID: "c"), now: start, jitter: 0,
                classify: classify)
        else { throw EquatableFailure() }
        ledger.apply(JournalRecord(seq: 1, time: start, task: sampleTask, body: .delivery(record)))
        let fresh = TaskStatusInfo(status: "AtlanticProvingFailed", errorMessage: "prover unavailable", updatedAt: nil)
        let verdict = ledger.decideAfterStatus(
            of: sampleTask, outcome: .status(fresh), now: start.addingTimeInterval(20), jitter: 0,
            retryAfterCap: .seconds(60), classify: classify)
        guard case .call = verdict else { throw EquatableFailure() }
        let event = try #require(seen.last)
        #expect(seen.count == 2)
        #expect(event.status == "AtlanticProvingFailed" && event.error == "prover unavailable")
        #expect(event.payload == body)
        #expect(event.payload[path: "data.chain_id"] == .number(11_155_111))
    }

    /// An episode opened from a record written before payloads were kept still reclassifies, on
    /// a payload made of the task id and the fresh status and error.
    @Test func anEpisodeWithoutAPayloadReclassifiesOnTheFreshFields() throws {
        var seen: [RuleEvent] = []
        var ledger = Ledger(dedupWindow: .seconds(3600))
        let schedule = EpisodeSchedule(
            rule: "transient", maxAttempts: 3, backoff: .standard, due: start.addingTimeInterval(10))
        let old = DeliveryRecord(
            deliveryID: "a", correlationID: "c", status: "TraceGenFailed", error: nil, noticeTime: nil,
            decision: .retryScheduled, reason: .rule, rule: "transient", schedule: schedule)
        ledger.apply(JournalRecord(seq: 1, time: start, task: sampleTask, body: .delivery(old)))
        #expect(ledger.tasks[sampleTask]?.episode?.payload == nil)
        let fresh = TaskStatusInfo(status: "AtlanticProvingFailed", errorMessage: "boom", updatedAt: nil)
        _ = ledger.decideAfterStatus(
            of: sampleTask, outcome: .status(fresh), now: start.addingTimeInterval(20), jitter: 0,
            retryAfterCap: .seconds(60),
            classify: { event in
                seen.append(event)
                return simpleClassifier(event)
            })
        #expect(
            seen.map(\.payload) == [
                .object([
                    "task_id": .string(sampleTask.rawValue), "status": .string("AtlanticProvingFailed"),
                    "error": .string("boom"),
                ])
            ])
    }

    // MARK: - What an open episode keeps

    @Test func anEpisodeKeepsThePayloadWithoutTheMembersNoRuleReads() throws {
        let hdp = DeliveryPayload(
            whole: try Self.json(
                #"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEQ","status":"TraceGenFailed","error":"a \"quoted\", {odd} text","timestamp":"2026-11-30T12:00:00Z"}"#
            ))
        #expect(hdp.forReclassification.json == #"{"timestamp":"2026-11-30T12:00:00Z"}"#)
        #expect(hdp.forReclassification.keptPaths == nil)

        // An envelope keeps everything under `data`: only the top level is normalised.
        let envelope = DeliveryPayload(
            whole: try Self.json(#"{"type":"task.failed","data":{"status":"TraceGenFailed","error":"x"},"status":1}"#))
        #expect(
            envelope.forReclassification.value
                == (try Self.json(#"{"type":"task.failed","data":{"status":"TraceGenFailed","error":"x"}}"#)))

        // Nothing to drop: the same text, not a copy.
        let other = DeliveryPayload(whole: try Self.json(#"{"chain":[1,{"a":"}"}],"n":null}"#))
        #expect(DeliveryPayload.withoutNormalisedMembers(other.json) == nil)
        #expect(other.forReclassification == other)

        // Only the normalised members: an empty object.
        let bare = DeliveryPayload(whole: try Self.json(#"{"error":null,"status":"X","task_id":"t"}"#))
        #expect(bare.forReclassification.json == "{}")

        // Not an object, or no text at all: kept as it is.
        #expect(DeliveryPayload.withoutNormalisedMembers("") == nil)
        #expect(DeliveryPayload.withoutNormalisedMembers("{") == nil)
        #expect(DeliveryPayload.withoutNormalisedMembers(#"{"status":"x""#) == nil)
        let array = DeliveryPayload(whole: try Self.json(#"[{"status":1}]"#))
        #expect(array.forReclassification == array)

        // A cut-down payload stays cut down.
        let cut = DeliveryPayload(canonicalJSON: #"{"data":{"chain_id":1},"status":"X"}"#, keptPaths: ["data.chain_id"])
        #expect(cut.forReclassification.json == #"{"data":{"chain_id":1}}"#)
        #expect(cut.forReclassification.keptPaths == ["data.chain_id"])
    }

    @Test func theScanAgreesWithParsingOnRandomPayloads() throws {
        var random = SeededGenerator(seed: 0x5eed_0012)
        let names = ["status", "error", "task_id", "timestamp", "data", "a", "st\"atus", "é", "error2", ""]
        func value(_ depth: Int) -> JSONValue {
            switch random.below(depth > 2 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(random.below(2) == 0)
            case 2: return .number(Double(random.below(2000)) / 8 - 100)
            case 3:
                let pieces = ["x", "\"", "\\", "}", "]", ",", ":", "{", "é", "\n", " "]
                return .string((0..<random.below(6)).map { _ in pieces[random.below(pieces.count)] }.joined())
            case 4: return .array((0..<random.below(4)).map { _ in value(depth + 1) })
            default:
                var members: [String: JSONValue] = [:]
                for _ in 0..<random.below(5) { members[names[random.below(names.count)]] = value(depth + 1) }
                return .object(members)
            }
        }
        for _ in 0..<2000 {
            var members: [String: JSONValue] = [:]
            for _ in 0..<random.below(7) { members[names[random.below(names.count)]] = value(1) }
            let whole = DeliveryPayload(whole: .object(members))
            let kept = whole.forReclassification
            var expected = members
            for name in DeliveryPayload.normalisedMembers { expected[name] = nil }
            #expect(kept.value == .object(expected), "\(whole.json)")
            #expect(kept.json == String(decoding: JSONWriter.canonical(.object(expected)), as: UTF8.self))
        }
    }

    @Test func documentedStatusesAreSharedAndOthersKeptAsTheyAre() {
        let decoded = String(decoding: Array("AtlanticProvingFailed".utf8), as: UTF8.self)
        let interned = TaskStatusInfo.interned(decoded)
        #expect(interned == decoded)
        func storage(_ text: String) -> UnsafePointer<UInt8>? {
            text.utf8.withContiguousStorageIfAvailable(\.baseAddress) ?? nil
        }
        let literal = TaskStatusInfo.documentedStatuses.first { $0 == decoded }
        #expect(storage(interned) != storage(decoded))
        #expect(storage(interned) == literal.flatMap(storage))
        #expect(TaskStatusInfo.interned("SomethingElseFailed") == "SomethingElseFailed")
        #expect(TaskStatusInfo.interned("atlanticprovingfailed") == "atlanticprovingfailed")
    }
}
