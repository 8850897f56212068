/// How an episode ended: the `outcome` of `hdp_retry_episodes_total` and of an `episode_ended`
/// record, and the `state` of a task whose last episode is over.
public enum EpisodeOutcome: String, Sendable, Hashable, CaseIterable {
    /// HDP accepted the retry.
    case retried
    /// The status check found the task no longer failed: retried or recovered by someone else.
    case superseded
    /// A rule said `give_up`.
    case gaveUp = "gave_up"
    /// The task reached its rule's `max_attempts`.
    case exhausted
    /// HDP does not know the task (404 to the status check or the retry).
    case notFound = "not_found"
    /// HDP refused the retry (400, e.g. "Cannot retry decommitment").
    case rejected
    /// A rule said `ignore`, or the notice was not a failure.
    case ignored
    /// Decided in dry-run mode: the retry was not sent.
    case dryRun = "dry_run"
}

/// What the journal says about a task now (the `state` of `GET /tasks/{id}`): an episode is open
/// (a retry pending or in flight), or the last one ended with an ``EpisodeOutcome``.
///
/// One vocabulary with ``EpisodeOutcome``: the ended states are its cases, spelled the same.
public enum TaskState: Sendable, Hashable, CaseIterable, RawRepresentable, CustomStringConvertible {
    /// A retry is scheduled.
    case pending
    /// A retry call was journaled as started and has not been answered.
    case inFlight
    /// The last episode is over.
    case ended(EpisodeOutcome)

    public static var allCases: [TaskState] { [.pending, .inFlight] + EpisodeOutcome.allCases.map(TaskState.ended) }

    public init?(rawValue: String) {
        switch rawValue {
        case "pending": self = .pending
        case "in_flight": self = .inFlight
        default:
            guard let outcome = EpisodeOutcome(rawValue: rawValue) else { return nil }
            self = .ended(outcome)
        }
    }

    public var rawValue: String {
        switch self {
        case .pending: "pending"
        case .inFlight: "in_flight"
        case .ended(let outcome): outcome.rawValue
        }
    }

    public var description: String { rawValue }

    /// Whether an episode is open (pending or in flight).
    public var isOpen: Bool {
        switch self {
        case .pending, .inFlight: true
        case .ended: false
        }
    }
}

/// Why a delivery was decided the way it was (the `reason` of a `delivery` record and of the 202).
public enum DeliveryReason: String, Sendable, Hashable, CaseIterable {
    /// A rule (or the rule set's default) decided.
    case rule
    /// The notice is older than the task's last accepted retry.
    case stale
    /// The status is not a `…Failed` one.
    case notAFailure = "not_a_failure"
    /// The task already has an episode open: the notice joins it.
    case openEpisode = "open_episode"
    /// The task has had its rule's `max_attempts` accepted retries.
    case maxAttempts = "max_attempts"
    /// The task's failure at the notice's time was decided already, under another delivery id: a
    /// reconciliation sweep found it before its webhook arrived, or the other way round
    /// (``TaskEntry/decidedThrough``).
    case alreadyDecided = "already_decided"
}

/// Why an episode ended without an answered retry call (the `reason` of an `episode_ended` record).
public enum EndReason: String, Sendable, Hashable, CaseIterable {
    /// The status check answered 404.
    case statusCheck = "status_check"
    /// The status check found the task no longer failed.
    case statusNotFailed = "status_not_failed"
    /// A retry whose outcome was unknown (a crash, a timeout, a lost connection) went through:
    /// the status check found the task re-running. It counts as an accepted retry.
    case interruptedAttemptWentThrough = "interrupted_attempt_went_through"
    /// A fresher status or error made the rules decide `give_up` or `ignore`.
    case reclassified
    /// The task reached its rule's `max_attempts`.
    case maxAttempts = "max_attempts"
}

/// How one HDP call ended: the `result` of `hdp_retry_calls_total` and of an `attempt_finished`
/// record.
public enum CallResult: String, Sendable, Hashable, CaseIterable {
    case accepted
    case notFound = "not_found"
    case rejected
    case unauthorized
    case rateLimited = "rate_limited"
    case serverError = "server_error"
    case timeout
    case networkError = "network_error"
    /// Dry-run mode: decided and journaled, not sent. Never a metric label.
    case dryRun = "dry_run"

    /// The results `hdp_retry_calls_total{result}` has a series for (all but `dry_run`).
    public static let metricLabels: [CallResult] = allCases.filter { $0 != .dryRun }
}

/// What a status check found: the `result` of `hdp_retry_status_checks_total`.
public enum StatusCheckResult: String, Sendable, Hashable, CaseIterable {
    /// The task is still in a `…Failed` status: the retry goes ahead.
    case failed
    /// The task is in another status: the episode ends `superseded`.
    case notFailed = "not_failed"
    case notFound = "not_found"
    case unauthorized
    case rateLimited = "rate_limited"
    case serverError = "server_error"
    case timeout
    case networkError = "network_error"
}
