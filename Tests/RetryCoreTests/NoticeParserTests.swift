import Foundation
import RetryTesting
import Testing

@testable import RetryCore

@Suite("NoticeParser")
struct NoticeParserTests {
    static let ulid = "01JPJ03YJT1A93D6NF56G4GVEQ"
    static let march17 = Date(timeIntervalSince1970: 1_742_205_600)  // 2025-03-17T10:00:00Z

    /// A body that parses, and what it must parse to.
    struct Accepted: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String
        var fields = NoticeParser.FieldPaths()
        var taskID = NoticeParserTests.ulid
        let status: String
        var error: String?
        var timestamp: Date?
        var failure = true
        var testDescription: String { name }
    }

    static let accepted: [Accepted] = [
        Accepted(
            name: "HDP callback",
            body:
                #"{"task_id":"\#(ulid)","status":"AtlanticProvingFailed","error":"prover timeout","timestamp":"2025-03-17T10:00:00Z"}"#,
            status: "AtlanticProvingFailed", error: "prover timeout", timestamp: march17),
        Accepted(
            name: "lower-case ULID is canonicalised",
            body: #"{"task_id":"01jpj03yjt1a93d6nf56g4gveq","status":"DryRunFailed"}"#,
            status: "DryRunFailed"),
        Accepted(
            name: "UUID task id",
            body: #"{"task_id":"3F2504E0-4F89-11D3-9A0C-0305E82C3301","status":"TraceGenFailed"}"#,
            taskID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", status: "TraceGenFailed"),
        Accepted(name: "alias uuid", body: #"{"uuid":"\#(ulid)","status":"DryRunFailed"}"#, status: "DryRunFailed"),
        Accepted(name: "alias taskId", body: #"{"taskId":"\#(ulid)","status":"DryRunFailed"}"#, status: "DryRunFailed"),
        Accepted(
            name: "alias task_uuid", body: #"{"task_uuid":"\#(ulid)","status":"DryRunFailed"}"#, status: "DryRunFailed"),
        Accepted(
            name: "task_id wins over uuid",
            body: #"{"uuid":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","task_id":"\#(ulid)","status":"DryRunFailed"}"#,
            status: "DryRunFailed"),
        Accepted(
            name: "Standard Webhooks envelope, envelope timestamp",
            body:
                #"{"type":"task.failed","timestamp":"2025-03-17T10:00:00.250Z","data":{"task_id":"\#(ulid)","status":"TaskDecommitmentFailed","error":"results missing"}}"#,
            status: "TaskDecommitmentFailed", error: "results missing", timestamp: march17.addingTimeInterval(0.25)),
        Accepted(
            name: "envelope, data timestamp wins",
            body:
                #"{"type":"task.failed","timestamp":"2030-01-01T00:00:00Z","data":{"uuid":"\#(ulid)","status":"TraceGenFailed","timestamp":1742205600}}"#,
            status: "TraceGenFailed", timestamp: march17),
        Accepted(
            name: "success callback is not a failure",
            body:
                #"{"task_id":"\#(ulid)","status":"TaskDecommitmentCompleted","transaction_hash":"0xabc","timestamp":"2025-03-17T10:00:00Z"}"#,
            status: "TaskDecommitmentCompleted", timestamp: march17, failure: false),
        Accepted(
            name: "an intermediate status is not a failure", body: #"{"task_id":"\#(ulid)","status":"Received"}"#,
            status: "Received", failure: false),
        Accepted(
            name: "lower-case failed counts", body: #"{"task_id":"\#(ulid)","status":"failed"}"#, status: "failed"),
        Accepted(
            name: "null error and null timestamp",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","error":null,"timestamp":null}"#,
            status: "DryRunFailed"),
        Accepted(
            name: "Unix seconds as a digit string",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"1742205600"}"#,
            status: "DryRunFailed", timestamp: march17),
        Accepted(
            name: "offset and microseconds",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"2025-03-17T12:00:00.000001+02:00"}"#,
            status: "DryRunFailed", timestamp: march17.addingTimeInterval(0.000_001)),
        Accepted(
            name: "brackets inside strings do not count as nesting",
            body:
                #"{"task_id":"\#(ulid)","status":"DryRunFailed","error":"\#(String(repeating: "[{", count: 100))\"]"}"#,
            status: "DryRunFailed", error: String(repeating: "[{", count: 100) + "\"]"),
        Accepted(
            name: "field paths",
            body: #"{"payload":{"task":{"id":"\#(ulid)"},"state":"TraceGenFailed","message":"oom","at":1742205600}}"#,
            fields: .init(
                taskID: "payload.task.id", status: "payload.state", error: "payload.message", timestamp: "payload.at"),
            status: "TraceGenFailed", error: "oom", timestamp: march17),
        Accepted(
            name: "a path replaces the built-in lookup",
            body:
                #"{"task_id":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","items":[{"id":"\#(ulid)"}],"status":"DryRunFailed","error":"ignored","detail":"used"}"#,
            fields: .init(taskID: "items.0.id", error: "detail"), status: "DryRunFailed", error: "used"),
    ]

    @Test("accepted bodies", arguments: accepted)
    func accepts(_ example: Accepted) throws {
        let parsed = try NoticeParser(fields: example.fields).parse(Array(example.body.utf8))
        let notice = parsed.notice
        #expect(notice.taskID.rawValue == example.taskID)
        #expect(notice.status == example.status)
        #expect(notice.error == example.error)
        if let expected = example.timestamp, let actual = notice.timestamp {
            #expect(abs(actual.timeIntervalSince(expected)) < 1e-6)
        } else {
            #expect(notice.timestamp == example.timestamp)
        }
        #expect(notice.payload == (try JSONValue.parse(Array(example.body.utf8))))
        #expect(parsed == (example.failure ? .failure(notice) : .notFailure(notice)))
    }

    /// A body that is refused, with the stable reason and a phrase the 400 message must contain.
    struct Refused: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String
        var fields = NoticeParser.FieldPaths()
        let reason: String
        let message: String
        var testDescription: String { name }
    }

    static let refused: [Refused] = [
        Refused(name: "empty body", body: "", reason: "malformed_json", message: "malformed JSON: the body is empty"),
        Refused(
            name: "truncated JSON", body: #"{"task_id":"#, reason: "malformed_json",
            message: "not a valid JSON document"),
        Refused(name: "not JSON", body: "task failed", reason: "malformed_json", message: "malformed JSON"),
        Refused(
            name: "an array", body: "[1,2]", reason: "not_an_object", message: "must be a JSON object (got an array)"),
        Refused(name: "a string", body: #""x""#, reason: "not_an_object", message: "(got a string)"),
        Refused(name: "null", body: "null", reason: "not_an_object", message: "(got null)"),
        Refused(
            name: "nesting deeper than 64", body: String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
            reason: "too_deep", message: "deeper than 64 levels"),
        Refused(
            name: "deep nesting inside an object", body: #"{"a":"# + String(repeating: "{\"a\":", count: 70),
            reason: "too_deep", message: "deeper than 64 levels"),
        Refused(
            name: "no task id", body: #"{"status":"DryRunFailed"}"#, reason: "missing_task_id",
            message: "no task id: looked at task_id, uuid, taskId, task_uuid (at the top level and in data)"),
        Refused(
            name: "null task id", body: #"{"task_id":null,"status":"DryRunFailed"}"#, reason: "missing_task_id",
            message: "no task id"),
        Refused(
            name: "no task id at the configured path", body: #"{"task_id":"\#(ulid)","status":"DryRunFailed"}"#,
            fields: .init(taskID: "payload.id"), reason: "missing_task_id",
            message: "no task id: looked at `payload.id`"),
        Refused(
            name: "task id is a number", body: #"{"task_id":42,"status":"DryRunFailed"}"#, reason: "wrong_type",
            message: "`task_id` must be a string (got a number)"),
        Refused(
            name: "path traversal", body: #"{"task_id":"../admin","status":"DryRunFailed"}"#, reason: "invalid_task_id",
            message: "`task_id`: task id must be a 26-character ULID or a 36-character UUID (got 8 characters)"),
        Refused(
            name: "ULID with a path suffix", body: #"{"task_id":"\#(ulid)/retry","status":"DryRunFailed"}"#,
            reason: "invalid_task_id", message: "(got 32 characters)"),
        Refused(
            name: "27 characters", body: #"{"uuid":"\#(ulid)A","status":"DryRunFailed"}"#, reason: "invalid_task_id",
            message: "`uuid`: task id must be a 26-character ULID or a 36-character UUID (got 27 characters)"),
        Refused(
            name: "not Crockford base32", body: #"{"task_id":"01JPJ03YJT1A93D6NF56G4GVEU","status":"DryRunFailed"}"#,
            reason: "invalid_task_id", message: "only Crockford base32 characters are allowed"),
        Refused(
            name: "first character above 7", body: #"{"task_id":"81JPJ03YJT1A93D6NF56G4GVEQ","status":"DryRunFailed"}"#,
            reason: "invalid_task_id", message: "the first character must be 0-7"),
        Refused(
            name: "trailing space is not trimmed", body: #"{"task_id":"\#(ulid) ","status":"DryRunFailed"}"#,
            reason: "invalid_task_id", message: "(got 27 characters)"),
        Refused(
            name: "UUID without hyphens in place",
            body: #"{"task_id":"3f2504e04-f89-11d3-9a0c-0305e82c3301","status":"DryRunFailed"}"#,
            reason: "invalid_task_id", message: "not a UUID: expected 8-4-4-4-12"),
        Refused(
            name: "empty task id", body: #"{"data":{"taskId":"","status":"DryRunFailed"}}"#, reason: "invalid_task_id",
            message: "`data.taskId`: task id is empty"),
        Refused(
            name: "no status", body: #"{"task_id":"\#(ulid)"}"#, reason: "missing_status",
            message: "no status: looked at `status`"),
        Refused(
            name: "no status in an envelope", body: #"{"type":"task.failed","data":{"task_id":"\#(ulid)"}}"#,
            reason: "missing_status", message: "no status: looked at `data.status`"),
        Refused(
            name: "no status at the configured path", body: #"{"task_id":"\#(ulid)","status":"DryRunFailed"}"#,
            fields: .init(status: "state"), reason: "missing_status", message: "no status: looked at `state`"),
        Refused(
            name: "status null", body: #"{"task_id":"\#(ulid)","status":null}"#, reason: "missing_status",
            message: "no status"),
        Refused(
            name: "status a number", body: #"{"task_id":"\#(ulid)","status":5}"#, reason: "wrong_type",
            message: "`status` must be a non-empty string (got a number)"),
        Refused(
            name: "status empty", body: #"{"task_id":"\#(ulid)","status":""}"#, reason: "wrong_type",
            message: "(got an empty string)"),
        Refused(
            name: "error an object", body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","error":{"code":1}}"#,
            reason: "wrong_type", message: "`error` must be a string or null (got an object)"),
        Refused(
            name: "timestamp a boolean", body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":true}"#,
            reason: "wrong_type", message: "`timestamp` must be an ISO 8601 string or a number of Unix seconds"),
        Refused(
            name: "timestamp prose", body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"yesterday"}"#,
            reason: "invalid_timestamp", message: "`timestamp` is not a time"),
        Refused(
            name: "timestamp in milliseconds",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":1742205600000}"#,
            reason: "invalid_timestamp", message: "Unix seconds between 0 and 253402300799"),
        Refused(
            name: "negative timestamp", body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":-1}"#,
            reason: "invalid_timestamp", message: "is not a time"),
        Refused(
            name: "impossible date",
            body: #"{"data":{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"2025-02-30T00:00:00Z"}}"#,
            reason: "invalid_timestamp", message: "`data.timestamp` is not a time"),
        // Two readers must not disagree on which task failed, or what its status is.
        Refused(
            name: "duplicate task_id",
            body: #"{"task_id":"\#(ulid)","task_id":"01JPJ03YJT1A93D6NF56G4GVEZ","status":"AtlanticProvingFailed"}"#,
            reason: "malformed_json", message: "duplicate member name"),
        Refused(
            name: "duplicate status in an envelope",
            body:
                #"{"type":"task.failed","data":{"task_id":"\#(ulid)","status":"TraceGenFailed","status":"TraceGenCompleted"}}"#,
            reason: "malformed_json", message: "duplicate member name"),
        // Past the last millisecond the journal can write: once acknowledged, then unreadable.
        Refused(
            name: "leap second at the end of year 9999",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"9999-12-31T23:59:60Z"}"#,
            reason: "invalid_timestamp", message: "`timestamp` is not a time"),
        Refused(
            name: "a fraction that rounds into year 10000",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"9999-12-31T23:59:59.9999Z"}"#,
            reason: "invalid_timestamp", message: "`timestamp` is not a time"),
        Refused(
            name: "an offset that moves year 0000 back a year",
            body: #"{"task_id":"\#(ulid)","status":"DryRunFailed","timestamp":"0000-01-01T00:00:00+01:00"}"#,
            reason: "invalid_timestamp", message: "`timestamp` is not a time"),
    ]

    /// JSON is UTF-8 (RFC 8259): bytes that are not are refused, not repaired into U+FFFD and
    /// journaled as a different status or error than the sender sent.
    @Test(arguments: [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98]] as [[UInt8]])
    func invalidUTF8IsRefused(_ bad: [UInt8]) {
        for field in ["status", "error"] {
            let body =
                Array(#"{"task_id":"\#(Self.ulid)","status":"Atlantic"#.utf8)
                + (field == "status" ? bad : []) + Array(#"ProvingFailed","error":"prover "#.utf8)
                + (field == "error" ? bad : []) + Array(#"timeout"}"#.utf8)
            do {
                let parsed = try NoticeParser(fields: .init()).parse(body)
                Issue.record("parsed as \(parsed)")
            } catch {
                #expect(error.reason == "malformed_json")
                #expect(error.description.contains("invalid UTF-8"), "\(error.description)")
            }
        }
    }

    @Test("refused bodies", arguments: refused)
    func refuses(_ example: Refused) {
        do {
            let parsed = try NoticeParser(fields: example.fields).parse(Array(example.body.utf8))
            Issue.record("parsed as \(parsed)")
        } catch {
            #expect(error.reason == example.reason)
            #expect(error.description.contains(example.message), "\(error.description)")
        }
    }

    @Test("an invalid task id is never echoed back")
    func invalidIDNotEchoed() {
        #expect(throws: NoticeParseError.self) {
            try NoticeParser().parse(Array(#"{"task_id":"<script>x</script>","status":"DryRunFailed"}"#.utf8))
        }
        do {
            _ = try NoticeParser().parse(Array(#"{"task_id":"<script>x</script>","status":"DryRunFailed"}"#.utf8))
        } catch {
            #expect(!error.description.contains("script"))
        }
    }

    @Test("exactly 64 levels of nesting are accepted")
    func depthLimitEdge() throws {
        let deep = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        let body = #"{"task_id":"\#(Self.ulid)","status":"DryRunFailed","extra":\#(deep)}"#
        #expect(throws: Never.self) { try NoticeParser().parse(Array(body.utf8)) }
        let tooDeep = #"{"task_id":"\#(Self.ulid)","status":"DryRunFailed","extra":[\#(deep)]}"#
        #expect(throws: NoticeParseError.self) { try NoticeParser().parse(Array(tooDeep.utf8)) }
    }

    @Test(
        "ISO 8601 timestamps",
        arguments: [
            ("2025-03-17T10:00:00Z", 1_742_205_600.0),
            ("2025-03-17t10:00:00z", 1_742_205_600),
            ("2025-03-17 10:00:00", 1_742_205_600),
            ("2025-03-17T10:00:00", 1_742_205_600),
            ("2025-03-17T10:00:00.5Z", 1_742_205_600.5),
            ("2025-03-17T10:00:00.123456789123Z", 1_742_205_600.123_456_789),
            ("2025-03-17T12:00:00+02:00", 1_742_205_600),
            ("2025-03-17T08:30:00-0130", 1_742_205_600),
            ("2025-03-17T11:00:00+01", 1_742_205_600),
            ("1970-01-01T00:00:00Z", 0),
            ("2024-02-29T00:00:00Z", 1_709_164_800),
            ("2000-03-01T00:00:00Z", 951_868_800),
            ("1900-01-01T00:00:00Z", -2_208_988_800),
        ])
    func iso8601(text: String, seconds: Double) throws {
        let date = try #require(ISO8601.parse(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-6)
    }

    @Test(
        "malformed ISO 8601 timestamps",
        arguments: [
            "2025-3-17T10:00:00Z", "2025-03-17T10:00Z", "2025-03-17T10:00:00.Z", "2025-03-17T10:00:00+2:00",
            "2025-03-17T10:00:00ZZ", "2023-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-03-17T10:00:00+24:00",
            "2025-03-17T24:00:00Z", "2025-03-17T10:60:00Z", "2025-03-17", " 2025-03-17T10:00:00Z",
            "2025-03-17X10:00:00Z",
            "2025-03-17T10:00:00+02:0", "2025-03-17T10:00:00+02:000",
        ])
    func malformedISO8601(text: String) {
        #expect(ISO8601.parse(text) == nil)
    }
}
