import Hummingbird
import RetryCore

/// The 202 to a new delivery: what was decided (SPEC §3 "Webhook listener").
public struct DeliveryAcceptedAnswer: ResponseEncodable, Sendable, Hashable {
    public var decision: DeliveryDecision
    public var taskID: String
    public var rule: String?
    public var reason: DeliveryReason
    /// For `retry_scheduled`: the attempt the episode is for.
    public var attempt: Int?
    /// For `retry_scheduled`: when the retry is due (ISO 8601, milliseconds, UTC).
    public var notBefore: String?
    public var correlationID: String

    enum CodingKeys: String, CodingKey {
        case decision
        case taskID = "task_id"
        case rule
        case reason
        case attempt
        case notBefore = "not_before"
        case correlationID = "correlation_id"
    }

    init(record: DeliveryRecord, task: TaskID, attempt: Int, correlationID: String) {
        decision = record.decision
        taskID = task.rawValue
        rule = record.rule
        reason = record.reason
        if record.decision == .retryScheduled {
            self.attempt = attempt
            notBefore = record.schedule.map { ISO8601.format($0.due) }
        }
        self.correlationID = correlationID
    }
}

/// The 200 to a delivery id seen within the dedup window.
public struct DuplicateDeliveryAnswer: ResponseEncodable, Sendable, Hashable {
    public var duplicate = true
    public var taskID: String?
    public var decision: DeliveryDecision
    public var deliveryID: String

    enum CodingKeys: String, CodingKey {
        case duplicate
        case taskID = "task_id"
        case decision
        case deliveryID = "delivery_id"
    }
}

extension DeliveryDecision: Codable {}
extension DeliveryReason: Codable {}
