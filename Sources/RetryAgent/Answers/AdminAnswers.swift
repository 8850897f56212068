import Hummingbird
import RetryCore
import RetryJournal

/// `/healthz` and `/readyz`.
public struct ProbeAnswer: ResponseEncodable, Sendable, Hashable {
    public var status: String
    /// What readiness still waits for (`/readyz` when not ready).
    public var waitingFor: String?

    enum CodingKeys: String, CodingKey {
        case status
        case waitingFor = "waiting_for"
    }
}

/// The answer to `POST /-/reload`.
public struct ReloadAnswer: ResponseEncodable, Sendable, Hashable {
    public var reloaded: Bool
    public var rules: Int?
    public var reason: String?
    public var diagnostics: [String]
}

/// `GET /tasks/{id}` and, without `history`, each task of `GET /tasks`.
public struct TaskAnswer: ResponseEncodable, Sendable, Hashable {
    /// The open episode of a task.
    public struct EpisodeAnswer: Codable, Sendable, Hashable {
        public var rule: String
        public var maxAttempts: Int
        public var due: String
        public var status: String
        public var error: String?
        public var tries: Int
        public var inFlightAttempt: Int?
        public var correlationID: String

        enum CodingKeys: String, CodingKey {
            case rule
            case maxAttempts = "max_attempts"
            case due
            case status
            case error
            case tries
            case inFlightAttempt = "in_flight_attempt"
            case correlationID = "correlation_id"
        }
    }

    public var taskID: String
    public var state: String
    public var attempts: Int
    public var lastAcceptedAt: String?
    public var updatedAt: String
    public var episode: EpisodeAnswer?
    /// The task's journal records, oldest first, as the journal spells them (`GET /tasks/{id}` only).
    public var history: [JSONValue]?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case state
        case attempts
        case lastAcceptedAt = "last_accepted_at"
        case updatedAt = "updated_at"
        case episode
        case history
    }

    public init(task: TaskID, entry: TaskEntry, history: [JournalRecord]?) {
        taskID = task.rawValue
        state = entry.state.rawValue
        attempts = entry.attempts
        lastAcceptedAt = entry.lastAcceptedAt.map(ISO8601.format)
        updatedAt = ISO8601.format(entry.updatedAt)
        episode = entry.episode.map { episode in
            EpisodeAnswer(
                rule: episode.schedule.rule, maxAttempts: episode.schedule.maxAttempts,
                due: ISO8601.format(episode.schedule.due), status: episode.status, error: episode.error,
                tries: episode.tries, inFlightAttempt: episode.inFlightAttempt, correlationID: episode.correlationID)
        }
        self.history = history?.map(Self.historyEntry(_:))
    }
}

/// `GET /tasks?state=…&limit=…`.
public struct TaskListAnswer: ResponseEncodable, Sendable, Hashable {
    public var state: String
    public var count: Int
    public var tasks: [TaskAnswer]
}

extension JSONValue: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let members): try container.encode(members)
        }
    }
}
