/// What a rule set classifies: the normalised fields of a notice plus its whole payload.
///
/// Conditions on `status`, `error` and `task_id` read the normalised fields; any other field name
/// is a dotted path into `payload`.
public struct RuleEvent: Sendable, Hashable {
    public var taskID: String
    public var status: String
    public var error: String?
    public var payload: JSONValue

    public init(taskID: String, status: String, error: String?, payload: JSONValue) {
        self.taskID = taskID
        self.status = status
        self.error = error
        self.payload = payload
    }
}

/// What a rule tells the agent to do with a failure.
public enum RuleAction: String, Sendable, Hashable, Codable, CaseIterable {
    case retry
    case giveUp = "give_up"
    case ignore
}

/// The outcome of classifying one event against one whole rule set.
public struct Classification: Sendable, Hashable {
    /// The deciding rule's name; `default` when no rule matched.
    public var rule: String
    public var action: RuleAction
    /// Accepted retries allowed per task (the rule's, else the file's `defaults`).
    public var maxAttempts: Int
    public var backoff: BackoffPolicy
    /// The dotted payload paths the whole deciding rule set reads (every rule's conditions, in
    /// name order): what a delivery record keeps of a body too large to keep whole
    /// (``DeliveryPayload/bounded(_:keeping:limit:)``).
    public var payloadPaths: [String]

    public init(
        rule: String, action: RuleAction, maxAttempts: Int, backoff: BackoffPolicy, payloadPaths: [String] = []
    ) {
        self.rule = rule
        self.action = action
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.payloadPaths = payloadPaths
    }
}
