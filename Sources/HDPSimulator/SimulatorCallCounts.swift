/// The HDP endpoints the simulator serves, for call counting and fault injection.
public enum SimulatorEndpoint: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    /// `POST /tasks/{id}/retry`.
    case retry
    /// `GET /tasks/{id}/status`.
    case status
    /// `GET /tasks/{id}/state_transitions`.
    case stateTransitions = "state_transitions"
    /// `GET /tasks`, the task list the agent's reconciliation sweeps page through.
    case list

    /// Orders endpoints by declaration, so sets of them are written in a stable order.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }

    private var rank: Int {
        switch self {
        case .retry: 0
        case .status: 1
        case .stateTransitions: 2
        case .list: 3
        }
    }
}

/// What the simulator was asked, as `GET /_sim/calls` reports it. The numbers that matter for the
/// agent's correctness are `retry.accepted` (each one re-runs a paid prover) and
/// `retry.duplicate` (accepted retries of a task that was not failed: money thrown away).
public struct SimulatorCallCounts: Sendable, Hashable, Encodable {
    /// Counts for `POST /tasks/{id}/retry`.
    public var retry = RetryCallCounts()
    /// Counts for `GET /tasks/{id}/status`.
    public var status = EndpointCallCounts()
    /// Counts for `GET /tasks/{id}/state_transitions`.
    public var stateTransitions = EndpointCallCounts()
    /// Counts for `GET /tasks`.
    public var list = ListCallCounts()
    /// What became of HDP's failure callbacks (not calls the agent made, but counted with them so
    /// that one read and one reset cover both directions).
    public var webhooks = CallbackCounts()

    /// Empty counts.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case retry
        case status
        case stateTransitions = "state_transitions"
        case list
        case webhooks
    }
}

/// Counts for the retry endpoint, broken down by how each call was answered.
public struct RetryCallCounts: Sendable, Hashable, Encodable {
    /// Every call received, faulted ones included.
    public var total = 0
    /// 200 answers: a re-run was queued.
    public var accepted = 0
    /// Accepted retries of a task that was not in a `…Failed` state.
    public var duplicate = 0
    /// 401 answers.
    public var unauthorized = 0
    /// 404 answers.
    public var notFound = 0
    /// 400 answers.
    public var rejected = 0
    /// Calls answered by an injected fault (outage, rate limit, random error).
    public var faulted = 0
    /// Accepted retries per task id (as the caller spelled it): what each task cost.
    public var byTask: [String: Int] = [:]
    /// Every retry call per task id, whatever the answer.
    public var callsByTask: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case total, accepted, duplicate, unauthorized, rejected, faulted
        case notFound = "not_found"
        case byTask = "by_task"
        case callsByTask = "calls_by_task"
    }
}

/// Counts for a read-only endpoint.
public struct EndpointCallCounts: Sendable, Hashable, Encodable {
    /// Every call received, faulted ones included.
    public var total = 0
    /// 404 answers.
    public var notFound = 0
    /// Calls answered by an injected fault.
    public var faulted = 0
    /// Every call per task id, whatever the answer.
    public var byTask: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case total, faulted
        case notFound = "not_found"
        case byTask = "by_task"
    }
}

/// Counts for the task list, `GET /tasks`.
public struct ListCallCounts: Sendable, Hashable, Encodable {
    /// Every call received, faulted and refused ones included.
    public var total = 0
    /// 400 answers: a page or page size out of range or not a number.
    public var rejected = 0
    /// Calls answered by an injected fault.
    public var faulted = 0
    /// Every call with a valid query per page number (`"1"`, `"2"`, …), whatever the answer:
    /// how far the agent's sweeps paged.
    public var byPage: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case total, rejected, faulted
        case byPage = "by_page"
    }
}

/// What became of HDP's failure callbacks (`webhook_url`). Every callback is exactly one of
/// dropped, sent, failed or still pending.
public struct CallbackCounts: Sendable, Hashable, Encodable {
    /// Answered with a 2xx by the receiver.
    public var sent = 0
    /// Lost on purpose (`PUT /_sim/webhooks` `drop` or `drop_next`): counted, never sent.
    public var dropped = 0
    /// Not delivered: connection refused or lost, timed out, or answered with anything but a
    /// 2xx. Never sent again, as HDP documents no redelivery.
    public var failed = 0
    /// Queued or in flight.
    public var pending = 0

    /// Counts, zero unless given.
    public init(sent: Int = 0, dropped: Int = 0, failed: Int = 0, pending: Int = 0) {
        self.sent = sent
        self.dropped = dropped
        self.failed = failed
        self.pending = pending
    }
}
