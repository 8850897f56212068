/// Why the simulator refused a control request, a task-list query or its configuration (a `--tasks`
/// file, a webhook URL). The `reason` is stable.
public struct SimulatorError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: String, Sendable, Hashable {
        case invalidTask = "invalid_task"
        case invalidFaults = "invalid_faults"
        case invalidBody = "invalid_body"
        case startFailed = "start_failed"
        case invalidQuery = "invalid_query"
        case invalidWebhook = "invalid_webhook"
    }

    private let base: Base
    /// What exactly was wrong, for the operator.
    public let message: String

    private init(_ base: Base, _ message: String) {
        self.base = base
        self.message = message
    }

    /// A stable identifier of the kind of problem.
    public var reason: String { base.rawValue }

    /// `reason: message`, for logs and the command line.
    public var description: String { "\(base.rawValue): \(message)" }

    /// A task spec names no id or an unknown status, or has a negative count.
    public static func invalidTask(_ message: String) -> Self { .init(.invalidTask, message) }
    /// A fault set is out of range.
    public static func invalidFaults(_ message: String) -> Self { .init(.invalidFaults, message) }
    /// A control request body is not the JSON expected.
    public static func invalidBody(_ message: String) -> Self { .init(.invalidBody, message) }
    /// A `GET /tasks` query parameter is not a number or out of range.
    public static func invalidQuery(_ message: String) -> Self { .init(.invalidQuery, message) }
    /// A webhook URL is not an `http://` URL the simulator can deliver to.
    public static func invalidWebhook(_ message: String) -> Self { .init(.invalidWebhook, message) }
    /// The simulator's server stopped before it was listening (port in use, bad address).
    public static func startFailed(_ message: String) -> Self { .init(.startFailed, message) }
}
