import Foundation
import RetryCore

/// `webhook-json`: a webhook body through the JSON parser and the notice extraction.
///
/// Properties:
/// - the notice parser never accepts a body the JSON parser rejects, and rejects such a body as
///   `malformed_json` (or `too_deep`, exactly when the JSON parser says the nesting is too deep);
/// - an accepted notice's payload is the parsed document, its task id spells itself canonically
///   and parses back to itself, its status is not empty, and it is a failure exactly when
///   `TaskStatusInfo.isFailure` says so;
/// - the result depends on the JSON value, not on how it was written: the document written back
///   compactly by `JSONWriter` parses to the same value, and to the same notice (or the same
///   rejection reason);
/// - with `webhook.fields` paths configured, the same: nothing the JSON parser rejects is accepted,
///   and an accepted task id is the one at the configured path.
enum WebhookJSONTarget {
    static let target = FuzzTarget(
        name: "webhook-json",
        summary: "webhook body: JSON parser, notice extraction (built-in lookups and webhook.fields paths)",
        maximumLength: 4096,
        run: run)

    /// A sender with its own body shape (`webhook.fields`).
    static let customFields = NoticeParser(
        fields: .init(
            taskID: "payload.task.id", status: "payload.state", error: "payload.error.message",
            timestamp: "payload.at"))

    static func run(_ body: UnsafeRawBufferPointer) throws(PropertyViolation) {
        let json = Result { () throws(JSONParser.SyntaxError) in try JSONParser.parse(body) }
        let notice = Result { () throws(NoticeParseError) in try NoticeParser().parse(body) }
        let custom = Result { () throws(NoticeParseError) in try customFields.parse(body) }

        switch json {
        case .failure(let syntax):
            try requireRejected(notice, syntax: syntax, parser: "built-in lookups")
            try requireRejected(custom, syntax: syntax, parser: "webhook.fields")
        case .success(let root):
            try check(notice, root: root, parser: "built-in lookups")
            try check(custom, root: root, parser: "webhook.fields")
            if case .success(let parsed) = custom {
                try require(
                    root[path: "payload.task.id"].flatMap(\.stringValue).flatMap(TaskID.init) == parsed.notice.taskID,
                    "webhook.fields: the task id is not the one at payload.task.id")
            }
            try checkRewritten(root, notice: notice)
        }
    }

    /// A body the JSON parser rejects must be rejected for that reason.
    static func requireRejected(
        _ notice: Result<ParsedNotice, NoticeParseError>, syntax: JSONParser.SyntaxError, parser: String
    ) throws(PropertyViolation) {
        switch notice {
        case .success(let parsed):
            throw PropertyViolation(
                message: "\(parser): accepted a body the JSON parser rejects (\(syntax)): \(shown(parsed))")
        case .failure(let error):
            let expected = syntax.isTooDeep ? "too_deep" : "malformed_json"
            try require(
                error.reason == expected,
                "\(parser): JSON error \(syntax) reported as \(error.reason), expected \(expected)")
        }
    }

    /// What holds for a notice parsed from a valid JSON document.
    static func check(
        _ notice: Result<ParsedNotice, NoticeParseError>, root: JSONValue, parser: String
    ) throws(PropertyViolation) {
        switch notice {
        case .failure(let error):
            try require(
                error.reason != "malformed_json" && error.reason != "too_deep",
                "\(parser): a valid JSON document rejected as \(error.reason): \(error)")
            if case .object = root {
                try require(error.reason != "not_an_object", "\(parser): an object rejected as not an object")
            } else {
                try require(error.reason == "not_an_object", "\(parser): a non-object rejected as \(error.reason)")
            }
        case .success(let parsed):
            let notice = parsed.notice
            guard case .object = root else {
                throw PropertyViolation(message: "\(parser): accepted a document that is not an object")
            }
            try require(notice.payload == root, "\(parser): the payload is not the parsed document")
            try require(
                TaskID(notice.taskID.rawValue) == notice.taskID,
                "\(parser): task id \(notice.taskID) does not parse back to itself")
            try require(!notice.status.isEmpty, "\(parser): accepted an empty status")
            let isFailure: Bool
            if case .failure = parsed { isFailure = true } else { isFailure = false }
            try require(
                isFailure == TaskStatusInfo.isFailure(notice.status),
                "\(parser): status \(shown(notice.status)) classified as failure=\(isFailure)")
            if let timestamp = notice.timestamp {
                try require(
                    timestamp.timeIntervalSince1970.isFinite, "\(parser): timestamp \(timestamp) is not finite")
            }
        }
    }

    /// The document written back compactly must mean the same thing.
    static func checkRewritten(
        _ root: JSONValue, notice: Result<ParsedNotice, NoticeParseError>
    ) throws(PropertyViolation) {
        // `JSONWriter` writes a non-finite number (from `1e999`) as `null`, on purpose.
        guard root.hasOnlyFiniteNumbers else { return }
        var writer = JSONWriter()
        writer.write(root)
        let bytes = writer.bytes
        let reparsed: JSONValue
        do {
            reparsed = try JSONParser.parse(bytes)
        } catch {
            throw PropertyViolation(
                message: "JSONWriter output does not parse (\(error)): \(shown(String(decoding: bytes, as: UTF8.self)))"
            )
        }
        try require(reparsed == root, "JSONWriter output parses to another value: \(shown(reparsed))")

        let again = Result { () throws(NoticeParseError) in try NoticeParser().parse(bytes) }
        switch (notice, again) {
        case (.success(let first), .success(let second)):
            try require(first == second, "the same document written compactly gives another notice")
        case (.failure(let first), .failure(let second)):
            try require(
                first.reason == second.reason,
                "the same document written compactly is rejected as \(second.reason), not \(first.reason)")
        default:
            throw PropertyViolation(message: "the same document written compactly is accepted by one spelling only")
        }
    }
}

extension JSONValue {
    /// Whether every number in the document is finite.
    var hasOnlyFiniteNumbers: Bool {
        switch self {
        case .number(let number): number.isFinite
        case .array(let items): items.allSatisfy(\.hasOnlyFiniteNumbers)
        case .object(let members): members.values.allSatisfy(\.hasOnlyFiniteNumbers)
        case .null, .bool, .string: true
        }
    }
}

extension JSONWriter {
    /// Writes `value`, object members in name order.
    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let bool): self.bool(bool)
        case .number(let number): double(number)
        case .string(let string): self.string(string)
        case .array(let items):
            beginArray()
            for item in items { write(item) }
            endArray()
        case .object(let members):
            beginObject()
            for name in members.keys.sorted() {
                key(name)
                if let member = members[name] { write(member) }
            }
            endObject()
        }
    }
}
