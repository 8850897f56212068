#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns an authenticated raw JSON body into a ``FailureNotice`` (SPEC §3, "Webhook listener").
///
/// Accepted shapes, looked up in this order:
/// - HDP's own callback: `{"task_id", "status", "error", "timestamp"}` at the top level;
/// - a Standard Webhooks envelope `{"type", "timestamp", "data": {…the same fields…}}`, used when
///   the top level has no task id and `data` is an object (the envelope's `timestamp` stands in
///   when `data` has none);
/// - the task id may also be spelled `uuid`, `taskId` or `task_uuid` (first found wins);
/// - dotted paths from `webhook.fields`, each of which, when set, replaces the built-in lookup of
///   its field and is resolved from the top of the body.
///
/// The whole body is kept as the notice's payload, so rules can match any dotted path in it.
/// Work is bounded on hostile input: the body size is capped before authentication, and nesting
/// deeper than ``maximumDepth`` is refused by the JSON parser as it descends.
public struct NoticeParser: Sendable {
    /// Dotted JSON paths (`payload.task.id`) for senders whose bodies have other names.
    public struct FieldPaths: Sendable, Hashable {
        /// Where the task id is (`webhook.fields.task_id`).
        public var taskID: String?
        /// Where the status word is (`webhook.fields.status`).
        public var status: String?
        /// Where the error text is (`webhook.fields.error`).
        public var error: String?
        /// Where the failure time is (`webhook.fields.timestamp`).
        public var timestamp: String?

        /// Paths for the fields given; `nil` keeps the built-in lookup.
        public init(taskID: String? = nil, status: String? = nil, error: String? = nil, timestamp: String? = nil) {
            self.taskID = taskID
            self.status = status
            self.error = error
            self.timestamp = timestamp
        }
    }

    /// The deepest nesting of arrays and objects accepted (the top-level object is level 1).
    public static let maximumDepth = JSONParser.maximumDepth
    /// The spellings of the task id the built-in lookup tries, in order.
    public static let taskIDKeys = ["task_id", "uuid", "taskId", "task_uuid"]

    /// The configured path overrides.
    public var fields: FieldPaths

    /// A parser with the given overrides (none by default).
    public init(fields: FieldPaths = FieldPaths()) {
        self.fields = fields
    }

    /// Parses `body`, which must already be authenticated.
    ///
    /// A status that does not end in `Failed` (compared case-insensitively), such as HDP's
    /// `TaskDecommitmentCompleted` success callback, yields ``ParsedNotice/notFailure(_:)``: the
    /// delivery is acknowledged and ignored rather than refused, so that a sender configured to
    /// report every outcome does not keep redelivering successes.
    public func parse(_ body: some Collection<UInt8>) throws(NoticeParseError) -> ParsedNotice {
        guard !body.isEmpty else { throw NoticeParseError(.malformedJSON, "malformed JSON: the body is empty") }
        let root: JSONValue
        do {
            root = try JSONValue.parse(body)
        } catch {
            if error.isTooDeep {
                throw NoticeParseError(.tooDeep, "JSON nesting is deeper than \(Self.maximumDepth) levels")
            }
            throw NoticeParseError(
                .malformedJSON,
                "malformed JSON: the body is not a valid JSON document (\(error.message) at byte \(error.offset))")
        }
        return try parse(value: root)
    }

    /// Reads a body that is already a JSON value, exactly as ``parse(_:)`` reads its bytes
    /// (`rules test` reads its fixtures' events this way).
    public func parse(value root: JSONValue) throws(NoticeParseError) -> ParsedNotice {
        guard case .object(let top) = root else {
            throw NoticeParseError(.notAnObject, "the body must be a JSON object (got \(Self.kind(of: root)))")
        }

        // The object holding the built-in fields: the top level, or an envelope's `data`.
        let (record, recordPrefix): ([String: JSONValue], String) =
            if !Self.taskIDKeys.contains(where: { top[$0] != nil }), case .object(let data)? = top["data"] {
                (data, "data.")
            } else {
                (top, "")
            }
        func builtIn(_ key: String) -> (value: JSONValue, name: String)? {
            record[key].map { ($0, recordPrefix + key) }
        }
        func override(_ path: String) -> (value: JSONValue, name: String)? {
            root[path: path].map { ($0, path) }
        }

        let taskID = try Self.taskID(
            from: fields.taskID.map(override) ?? Self.taskIDKeys.lazy.compactMap(builtIn).first,
            lookedAt: fields.taskID.map { "`\($0)`" }
                ?? "task_id, uuid, taskId, task_uuid (at the top level and in data)")

        let statusField = fields.status.map(override) ?? builtIn("status")
        let statusName = fields.status ?? recordPrefix + "status"
        guard let statusField, statusField.value != .null else {
            throw NoticeParseError(.missingStatus, "no status: looked at `\(statusName)`")
        }
        guard case .string(let status) = statusField.value, !status.isEmpty else {
            throw Self.wrongType(statusField, expected: "a non-empty string")
        }

        let errorField = fields.error.map(override) ?? builtIn("error")
        var errorText: String?
        if let errorField {
            switch errorField.value {
            case .null: errorText = nil
            case .string(let text): errorText = text
            default: throw Self.wrongType(errorField, expected: "a string or null")
            }
        }

        var timestampField = fields.timestamp.map(override) ?? builtIn("timestamp")
        if fields.timestamp == nil, timestampField == nil, !recordPrefix.isEmpty {
            timestampField = top["timestamp"].map { ($0, "timestamp") }
        }
        let timestamp = try timestampField.flatMap(Self.timestamp(from:))

        let notice = FailureNotice(
            taskID: taskID, status: TaskStatusInfo.interned(status), error: errorText, timestamp: timestamp,
            payload: root)
        return TaskStatusInfo.isFailure(status) ? .failure(notice) : .notFailure(notice)
    }

    private static func taskID(
        from field: (value: JSONValue, name: String)?, lookedAt: String
    ) throws(NoticeParseError) -> TaskID {
        guard let field, field.value != .null else {
            throw NoticeParseError(.missingTaskID, "no task id: looked at \(lookedAt)")
        }
        guard case .string(let text) = field.value else { throw wrongType(field, expected: "a string") }
        guard let taskID = TaskID(text) else {
            throw NoticeParseError(.invalidTaskID, "`\(field.name)`: \(TaskID.problem(with: text))")
        }
        return taskID
    }

    /// Unix seconds as a JSON number or a string of digits, or ISO 8601 text; `null` is no time.
    private static func timestamp(from field: (value: JSONValue, name: String)) throws(NoticeParseError) -> Date? {
        let invalid = NoticeParseError(
            .invalidTimestamp,
            "`\(field.name)` is not a time: expected ISO 8601 (2025-03-17T10:00:00Z, fractional seconds and "
                + "offsets allowed) or Unix seconds between 0 and 253402300799")
        switch field.value {
        case .null:
            return nil
        case .number(let seconds):
            guard let date = unixDate(seconds) else { throw invalid }
            return date
        case .string(let text):
            if !text.isEmpty, text.utf8.count <= 12, text.utf8.allSatisfy({ (48...57).contains($0) }),
                let seconds = Double(text), let date = unixDate(seconds)
            {
                return date
            }
            guard let date = ISO8601.parse(text) else { throw invalid }
            return date
        default:
            throw wrongType(field, expected: "an ISO 8601 string or a number of Unix seconds")
        }
    }

    /// Seconds since 1970 up to the end of the year 9999; larger values are most likely
    /// milliseconds, which are refused rather than misread.
    private static func unixDate(_ seconds: Double) -> Date? {
        guard seconds.isFinite, seconds >= 0, seconds <= 253_402_300_799 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    private static func wrongType(_ field: (value: JSONValue, name: String), expected: String) -> NoticeParseError {
        NoticeParseError(.wrongType, "`\(field.name)` must be \(expected) (got \(kind(of: field.value)))")
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string(let text): text.isEmpty ? "an empty string" : "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// What a verified body says: a failure to classify, or another outcome to acknowledge and ignore.
public enum ParsedNotice: Sendable, Hashable {
    /// The status ends in `Failed`: the pipeline classifies it with the rules.
    case failure(FailureNotice)
    /// Any other status (`TaskDecommitmentCompleted`, `Received`, …): answered 202 with
    /// `"decision": "ignored"` and not classified.
    case notFailure(FailureNotice)

    /// The notice, whichever the case.
    public var notice: FailureNotice {
        switch self {
        case .failure(let notice), .notFailure(let notice): notice
        }
    }
}

/// Why a verified body cannot be turned into a notice; its description is the 400 response text.
///
/// Messages name the fields that were looked at, never echo field values, and never mention
/// secrets; the pipeline may truncate them.
public struct NoticeParseError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Reason: String, Sendable, Hashable {
        case malformedJSON = "malformed_json"
        case notAnObject = "not_an_object"
        case tooDeep = "too_deep"
        case missingTaskID = "missing_task_id"
        case invalidTaskID = "invalid_task_id"
        case missingStatus = "missing_status"
        case wrongType = "wrong_type"
        case invalidTimestamp = "invalid_timestamp"
    }

    private let base: Reason
    private let message: String

    init(_ base: Reason, _ message: String) {
        self.base = base
        self.message = message
    }

    /// A short, stable identifier: `malformed_json`, `not_an_object`, `too_deep`,
    /// `missing_task_id`, `invalid_task_id`, `missing_status`, `wrong_type` or `invalid_timestamp`.
    public var reason: String { base.rawValue }

    /// The message for the 400 response body.
    public var description: String { message }
}
