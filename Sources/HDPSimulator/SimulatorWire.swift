import Foundation
import Hummingbird

/// The JSON bodies the simulator writes, spelled exactly as HDP's documentation shows them.
enum SimulatorWire {
    /// HDP's 401 text, word for word.
    static let unauthorizedMessage = "Missing Herodotus Cloud X-API-KEY header"

    /// `GET /tasks/{id}/status` 200 body; `errorMessage` is written as `null` when absent.
    struct Status: Encodable {
        var taskId: String
        var status: String
        var errorMessage: String?
        var updatedAt: Date

        /// Writes the fields under HDP's names, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(taskId, forKey: .taskId)
            try container.encode(status, forKey: .status)
            try container.encode(errorMessage, forKey: .errorMessage)
            try container.encode(timestamp(updatedAt), forKey: .updatedAt)
        }

        enum CodingKeys: String, CodingKey { case taskId, status, errorMessage, updatedAt }
    }

    /// `GET /tasks/{id}/state_transitions` 200 body.
    struct Transitions: Encodable {
        var taskId: String
        var transitions: [StateTransition]

        /// Writes the fields under HDP's names, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(taskId, forKey: .taskId)
            try container.encode(transitions.map(Row.init), forKey: .transitions)
        }

        enum CodingKeys: String, CodingKey {
            case taskId
            case transitions = "state_transitions"
        }
    }

    /// One transition row; `from_status` is `null` for the creation, `retry_kind` (the
    /// simulator's own addition) appears only on a reset caused by a retry.
    struct Row: Encodable {
        var transition: StateTransition

        /// Wraps `transition` for encoding.
        init(_ transition: StateTransition) { self.transition = transition }

        /// Writes the fields under HDP's names, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(transition.id, forKey: .id)
            try container.encode(transition.taskID, forKey: .taskID)
            try container.encode(transition.fromStatus, forKey: .fromStatus)
            try container.encode(transition.toStatus, forKey: .toStatus)
            try container.encode(timestamp(transition.createdAt), forKey: .createdAt)
            try container.encodeIfPresent(transition.retryKind, forKey: .retryKind)
        }

        enum CodingKeys: String, CodingKey {
            case id
            case taskID = "task_id"
            case fromStatus = "from_status"
            case toStatus = "to_status"
            case createdAt = "created_at"
            case retryKind = "retry_kind"
        }
    }

    /// A task as `GET /_sim/tasks` lists it.
    struct TaskSummary: Encodable {
        var task: SimulatedTask

        /// Writes the fields under HDP's names, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(task.id, forKey: .taskID)
            try container.encode(task.status, forKey: .status)
            try container.encode(task.error, forKey: .error)
            try container.encode(task.resultsMissing, forKey: .resultsMissing)
            try container.encode(task.failAgain, forKey: .failAgain)
            try container.encode(task.pendingRun.map { timestamp($0.due) }, forKey: .pendingUntil)
            try container.encode(timestamp(task.updatedAt), forKey: .updatedAt)
        }

        enum CodingKeys: String, CodingKey {
            case taskID = "task_id"
            case status, error
            case resultsMissing = "results_missing"
            case failAgain = "fail_again"
            case pendingUntil = "pending_until"
            case updatedAt = "updated_at"
        }
    }

    /// `GET /tasks` 200 body, in the shape set with `PUT /_sim/list_shape`: the items under the
    /// container member beside `page`, `per_page` and `total`, or a bare array of items.
    struct TaskList: Encodable {
        var page: TaskListPage
        var shape: SimulatorListShape

        /// Writes the page in `shape`.
        func encode(to encoder: any Encoder) throws {
            let items = page.tasks.map { ListItem(task: $0, shape: shape) }
            if shape.container == .array {
                var container = encoder.singleValueContainer()
                try container.encode(items)
                return
            }
            var container = encoder.container(keyedBy: AnyKey.self)
            try container.encode(items, forKey: AnyKey(shape.container.rawValue))
            try container.encode(page.page, forKey: AnyKey("page"))
            try container.encode(page.perPage, forKey: AnyKey("per_page"))
            try container.encode(page.total, forKey: AnyKey("total"))
        }
    }

    /// One task of `GET /tasks`: id, status, error (`null` unless failed) and last update, under
    /// the shape's names.
    struct ListItem: Encodable {
        var task: SimulatedTask
        var shape: SimulatorListShape

        /// Writes the fields under the shape's names, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyKey.self)
            try container.encode(task.id, forKey: AnyKey(shape.idKey))
            try container.encode(task.status, forKey: AnyKey("status"))
            try container.encode(task.errorMessage, forKey: AnyKey(shape.errorKey))
            try container.encode(timestamp(task.updatedAt), forKey: AnyKey(shape.updatedKey))
        }
    }

    /// A coding key spelled at run time.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }

        init(_ name: String) { self.stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// HDP's failure callback: `{"error","status","task_id","timestamp"}`, `error` `null` when
    /// the task failed without one.
    struct WebhookBody: Encodable {
        var notice: CallbackNotice

        /// Writes the fields under HDP's names, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(notice.status, forKey: .status)
            try container.encode(notice.taskID, forKey: .taskID)
            try container.encode(timestamp(notice.failedAt), forKey: .timestamp)
            try container.encode(notice.error, forKey: .error)
        }

        enum CodingKeys: String, CodingKey {
            case status, timestamp, error
            case taskID = "task_id"
        }
    }

    /// The bytes of the callback for `notice`, as sent (and signed).
    static func webhookBody(_ notice: CallbackNotice) -> [UInt8] {
        Array(encode(WebhookBody(notice: notice)))
    }

    /// `GET|PUT /_sim/webhooks` body: the target and drop settings, the counts, and what became
    /// of the most recent callbacks.
    struct Webhooks: Encodable {
        var settings: CallbackSettings
        var signed: Bool
        var counts: CallbackCounts
        var log: [CallbackRecord]

        /// Writes the settings and counts flat, the log as `recent`, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(settings.target?.url, forKey: .url)
            try container.encode(signed, forKey: .signed)
            try container.encode(settings.drop, forKey: .drop)
            try container.encode(settings.dropNext, forKey: .dropNext)
            try container.encode(counts.sent, forKey: .sent)
            try container.encode(counts.dropped, forKey: .dropped)
            try container.encode(counts.failed, forKey: .failed)
            try container.encode(counts.pending, forKey: .pending)
            try container.encode(log.map(Record.init), forKey: .recent)
        }

        enum CodingKeys: String, CodingKey {
            case url, signed, drop, sent, dropped, failed, pending, recent
            case dropNext = "drop_next"
        }
    }

    /// One entry of `recent` in `GET /_sim/webhooks`.
    struct Record: Encodable {
        var record: CallbackRecord

        /// Wraps `record` for encoding.
        init(_ record: CallbackRecord) { self.record = record }

        /// Writes the fields in snake_case, absent values as `null`.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(record.id, forKey: .id)
            try container.encode(record.taskID, forKey: .taskID)
            try container.encode(record.status, forKey: .status)
            try container.encode(record.outcome, forKey: .outcome)
            try container.encode(record.httpStatus, forKey: .httpStatus)
            try container.encode(record.reason, forKey: .reason)
        }

        enum CodingKeys: String, CodingKey {
            case id, status, outcome, reason
            case taskID = "task_id"
            case httpStatus = "http_status"
        }
    }

    /// `POST /_sim/advance` body: milliseconds to move simulator time; absent settles everything.
    struct Advance: Decodable {
        var ms: Int?
    }

    /// ISO 8601 with milliseconds, in UTC: `2025-03-18T10:00:00.000Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// `value` as JSON with sorted keys, so bodies are stable byte for byte.
    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    /// A JSON response with sorted keys, so bodies are stable byte for byte.
    static func json(
        _ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]
    ) -> Response {
        let data = encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
