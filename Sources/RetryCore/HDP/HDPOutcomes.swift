#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The slice of HDP's API the agent uses. A `Sendable` protocol so that tests substitute it.
public protocol HDPClient: Sendable {
    /// `GET /tasks/{id}/status` (no authentication).
    func status(of task: TaskID) async -> HDPStatusOutcome
    /// `POST /tasks/{id}/retry` with `X-API-KEY`.
    func retry(_ task: TaskID) async -> HDPCallOutcome
    /// `GET /tasks?hdp_tasks_page=&hdp_tasks_per_page=&hdp_tasks_search=` (a reconciliation
    /// sweep's page, SPEC §7): the 200 body, for ``TaskListReader`` to read.
    func listTasks(page: Int, perPage: Int, search: String?) async -> HDPListOutcome
}

/// The answer to a page of the task list.
public enum HDPListOutcome: Sendable, Hashable {
    /// 200, with its body.
    case page([UInt8])
    /// Anything else, mapped as for the other endpoints.
    case failure(HDPCallOutcome)
}

/// What HDP said about a task's status.
public struct TaskStatusInfo: Sendable, Hashable {
    public var status: String
    public var errorMessage: String?
    public var updatedAt: Date?

    public init(status: String, errorMessage: String?, updatedAt: Date?) {
        self.status = Self.interned(status)
        self.errorMessage = errorMessage
        self.updatedAt = updatedAt
    }

    /// HDP reports a failed state (`…Failed`): a retry is still wanted.
    public var isFailed: Bool { Self.isFailure(status) }

    /// Whether `status` is one of HDP's failed states (`DryRunFailed` … `TaskDecommitmentFailed`):
    /// it ends in `Failed`, compared without regard to case so that a relay that lower-cases
    /// statuses still gets its failures retried. The one definition the parser, the ledger and
    /// the status check share.
    public static func isFailure(_ status: String) -> Bool {
        status.lowercased().hasSuffix("failed")
    }

    /// `status` itself, or the same word from ``documentedStatuses`` when it is one: a word from
    /// that list is stored once for the whole process, where each decoded copy would be a
    /// separate allocation in every open episode that holds it. The notice parser and status
    /// checks use it; replay shares strings its own way (the journal decoder's string table).
    public static func interned(_ status: String) -> String {
        guard status.utf8.count > 15 else { return status }  // held inline: nothing to share
        for known in documentedStatuses where known == status { return known }
        return status
    }

    /// The statuses HDP documents, in workflow order.
    public static let documentedStatuses = [
        "Received", "DryRunStarted", "DryRunCompleted", "DryRunFailed", "ChainProofsFetchStarted",
        "ChainProofsFetchCompleted", "ChainProofsFetchFailed", "TraceGenStarted", "TraceGenCompleted",
        "TraceGenFailed", "AtlanticProvingStarted", "AtlanticProvingCompleted", "AtlanticProvingFailed",
        "TaskDecommitmentStarted", "TaskDecommitmentCompleted", "TaskDecommitmentFailed",
    ]
}

/// The answer to a status check.
public enum HDPStatusOutcome: Sendable, Hashable {
    /// 200 with the task's status.
    case status(TaskStatusInfo)
    /// Anything else: `.notFound` for 404, a transient failure otherwise.
    case failure(HDPCallOutcome)

    /// The `result` of `hdp_retry_status_checks_total`.
    public var result: StatusCheckResult {
        switch self {
        case .status(let info): info.isFailed ? .failed : .notFailed
        case .failure(.notFound): .notFound
        case .failure(.unauthorized): .unauthorized
        case .failure(.rateLimited): .rateLimited
        case .failure(.timeout), .failure(.connectTimeout): .timeout
        case .failure(.networkError), .failure(.connectionLost): .networkError
        case .failure(.accepted), .failure(.rejected), .failure(.serverError): .serverError
        }
    }

    /// Whether the breaker counts this check as a failure of HDP (see ``HDPCallOutcome/isBreakerFailure``).
    public var isBreakerFailure: Bool {
        if case .failure(let failure) = self { return failure.isBreakerFailure }
        return false
    }
}

/// How one call to HDP ended, mapped from the HTTP exchange.
public enum HDPCallOutcome: Sendable, Hashable {
    /// 200: "Task has been queued for retry".
    case accepted
    /// 404: the task does not exist — permanent for this task.
    case notFound
    /// 400: HDP refuses the retry (e.g. "Cannot retry decommitment") — permanent; `details` kept.
    case rejected(details: String)
    /// 401/403: the API key is missing or wrong — a configuration problem, not the task's.
    case unauthorized(httpStatus: Int)
    /// 429, with the parsed `Retry-After` when there was one.
    case rateLimited(retryAfter: Duration?)
    /// 5xx or an unexpected status code.
    case serverError(httpStatus: Int)
    /// No answer within `hdp.timeout` once the request may have gone out: whether HDP took it is
    /// unknown.
    case timeout
    /// No connection within `hdp.timeout`: the request never went out.
    case connectTimeout
    /// The request never reached HDP (connection refused, DNS, TLS handshake).
    case networkError(String)
    /// The connection broke after the request may have gone out (reset, closed, an unreadable
    /// answer): whether HDP took it is unknown.
    case connectionLost(String)

    /// The `result` of `hdp_retry_calls_total` and of the journal's `attempt_finished` record.
    public var result: CallResult {
        switch self {
        case .accepted: .accepted
        case .notFound: .notFound
        case .rejected: .rejected
        case .unauthorized: .unauthorized
        case .rateLimited: .rateLimited
        case .serverError: .serverError
        case .timeout, .connectTimeout: .timeout
        case .networkError, .connectionLost: .networkError
        }
    }

    /// Whether the request may have reached HDP without its answer reaching the agent. A retry
    /// with such an outcome is treated like one a crash interrupted: HDP may have queued it, so
    /// the next try starts with a status check, whatever `hdp.confirm_status` says.
    public var outcomeUnknown: Bool {
        switch self {
        case .timeout, .connectionLost: true
        default: false
        }
    }

    /// Whether the circuit breaker counts this call as a failure of HDP: 5xx, 429, timeouts and
    /// connection errors do; 404 and 400 are answers about one task and do not. 401/403 are
    /// counted too: with a bad key every call fails, and hammering HDP helps nobody.
    public var isBreakerFailure: Bool {
        switch self {
        case .accepted, .notFound, .rejected: false
        case .unauthorized, .rateLimited, .serverError, .timeout, .connectTimeout, .networkError, .connectionLost: true
        }
    }
}
