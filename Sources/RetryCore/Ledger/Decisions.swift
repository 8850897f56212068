#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A delivery that passed authentication and parsing, ready to be decided.
public struct DeliveryInput: Sendable {
    public var notice: FailureNotice
    public let deliveryID: DeliveryID
    /// The id's dedup key, hashed once here for the lookup and the record.
    public let deliveryKey: DeliveryKey
    public var correlationID: String
    /// The webhook listener, or a reconciliation sweep.
    public var source: DeliverySource

    public init(
        notice: FailureNotice, deliveryID: String, correlationID: String, source: DeliverySource = .webhook
    ) {
        self.notice = notice
        self.deliveryID = DeliveryID(deliveryID)
        self.deliveryKey = DeliveryKey(id: self.deliveryID)
        self.correlationID = correlationID
        self.source = source
    }
}

/// The verdict on a delivery: a duplicate (nothing to journal) or a record to append.
public enum DeliveryVerdict: Sendable, Hashable {
    case duplicate(SeenDelivery)
    case record(DeliveryRecord)
}

/// What the dispatcher does after the status check.
public enum StatusVerdict: Sendable, Hashable {
    /// Send the retry: journal this first.
    case call(AttemptStarted)
    /// End the episode without a call.
    case end(EpisodeEnded)
    /// The check failed transiently: journal this and try again later.
    case later(AttemptFinished)

    /// The record to append for this verdict.
    public var record: RecordBody {
        switch self {
        case .call(let started): .attemptStarted(started)
        case .end(let ended): .episodeEnded(ended)
        case .later(let finished): .attemptFinished(finished)
        }
    }
}

/// Error texts are kept in the journal up to this many bytes.
let maximumErrorBytes = 2048

/// Every decision the agent makes, as pure functions of (state, input, now): they return the
/// records to append and leave appending, waiting and calling to the caller. The same functions
/// decide for every store: over the whole ``Ledger`` of the file journal, or over one task's row
/// in a shared database.
public enum Decisions {
    /// Decides a new delivery (SPEC §4 "Deduplication", "Attempts and backoff").
    ///
    /// In order: a delivery id seen within the window is a duplicate; a status that is not a
    /// failure is ignored; a notice older than the task's last accepted retry is stale and
    /// ignored; a task with an open episode coalesces; a notice whose failure was decided already
    /// under another delivery id (not later than ``TaskEntry/decidedThrough``: a reconciliation
    /// sweep and the failure's webhook) is ignored; otherwise the rules decide, and a task at its
    /// rule's `max_attempts` is exhausted. `jitter` is a random number in `[0, 1]`.
    ///
    /// `seen` is the delivery remembered under the input's key inside the dedup window, `entry`
    /// the task's entry (`nil` for a task never seen).
    public static func delivery(
        _ input: DeliveryInput, seen: SeenDelivery?, entry: TaskEntry?, now: Date, jitter: Double,
        classify: (RuleEvent) -> Classification
    ) -> DeliveryVerdict {
        if let seen { return .duplicate(seen) }
        let notice = input.notice
        func record(
            _ decision: DeliveryDecision, _ reason: DeliveryReason, rule: String? = nil,
            schedule: EpisodeSchedule? = nil, payload: DeliveryPayload? = nil
        )
            -> DeliveryVerdict
        {
            .record(
                DeliveryRecord(
                    deliveryID: input.deliveryID, deliveryKey: input.deliveryKey, correlationID: input.correlationID,
                    status: notice.status,
                    error: notice.error.map { truncated($0, to: maximumErrorBytes) }, noticeTime: notice.timestamp,
                    decision: decision, reason: reason, rule: rule, schedule: schedule, source: input.source,
                    payload: payload
                )
            )
        }
        guard TaskStatusInfo.isFailure(notice.status) else { return record(.ignored, .notAFailure) }
        if let entry, let sent = notice.timestamp, entry.isStale(failureAt: sent) { return record(.ignored, .stale) }
        if entry?.episode != nil { return record(.coalesced, .openEpisode, rule: entry?.episode?.schedule.rule) }
        if let entry, let sent = notice.timestamp, entry.hasDecided(failureAt: sent) {
            return record(.ignored, .alreadyDecided)
        }
        let classification = classify(notice.ruleEvent)
        // The rules decided: the record keeps what deciding again needs (rules backtest, and a
        // reclassification after a status check).
        let payload = DeliveryPayload.bounded(notice.payload, keeping: classification.payloadPaths)
        switch classification.action {
        case .ignore: return record(.ignored, .rule, rule: classification.rule, payload: payload)
        case .giveUp: return record(.gaveUp, .rule, rule: classification.rule, payload: payload)
        case .retry:
            if (entry?.attempts ?? 0) >= classification.maxAttempts {
                return record(.exhausted, .maxAttempts, rule: classification.rule, payload: payload)
            }
            let delay = classification.backoff.delay(tries: 0, unit: jitter)
            let schedule = EpisodeSchedule(
                rule: classification.rule, maxAttempts: classification.maxAttempts, backoff: classification.backoff,
                due: now.addingTimeInterval(delay.secondsDouble)
            )
            return record(.retryScheduled, .rule, rule: classification.rule, schedule: schedule, payload: payload)
        }
    }

    /// Decides what follows a status check of a due task (SPEC §4 "Verify before retrying").
    ///
    /// `outcome` is `nil` when no check was made (`hdp.confirm_status: false`, and the attempt was
    /// not interrupted). A status that is no longer `…Failed` ends the episode `superseded`; a 404
    /// ends it `not_found`; a transient failure reschedules with the episode's backoff. When the
    /// fresh status or error differs from what the episode knew, the rules classify it again:
    /// `status` and `error` are the fresh ones, the payload the opening notice's body as its
    /// delivery record kept it (an episode opened before records kept bodies gets
    /// `{"task_id","status","error"}` with the fresh values instead).
    public static func afterStatus(
        of task: TaskID, entry: TaskEntry, outcome: HDPStatusOutcome?, now: Date, jitter: Double,
        retryAfterCap: Duration, classify: (RuleEvent) -> Classification
    ) -> StatusVerdict? {
        guard let episode = entry.episode else { return nil }
        let interrupted = episode.inFlightAttempt != nil
        var status = episode.status
        var error = episode.error
        switch outcome {
        case .none:
            break
        case .failure(.notFound):
            return .end(
                EpisodeEnded(
                    outcome: .notFound, reason: .statusCheck, status: nil, rule: episode.schedule.rule,
                    countsAttempt: false))
        case .failure(let failure):
            return .later(
                Self.transient(failure, call: .status, episode: episode, now: now, jitter: jitter, cap: retryAfterCap))
        case .status(let info):
            guard info.isFailed else {
                return .end(
                    EpisodeEnded(
                        outcome: .superseded,
                        reason: interrupted ? .interruptedAttemptWentThrough : .statusNotFailed,
                        status: info.status, rule: episode.schedule.rule, countsAttempt: interrupted
                    )
                )
            }
            status = info.status
            if let message = info.errorMessage { error = truncated(message, to: maximumErrorBytes) }
        }
        var reclassified: EpisodeSchedule?
        var schedule = episode.schedule
        if status != episode.status || error != episode.error {
            let payload: JSONValue =
                episode.payload?.value
                ?? .object([
                    "task_id": .string(task.rawValue), "status": .string(status),
                    "error": error.map(JSONValue.string) ?? .null,
                ])
            let event = RuleEvent(taskID: task.rawValue, status: status, error: error, payload: payload)
            let fresh = classify(event)
            switch fresh.action {
            case .giveUp:
                return .end(
                    EpisodeEnded(
                        outcome: .gaveUp, reason: .reclassified, status: status, rule: fresh.rule, countsAttempt: false
                    ))
            case .ignore:
                return .end(
                    EpisodeEnded(
                        outcome: .ignored, reason: .reclassified, status: status, rule: fresh.rule,
                        countsAttempt: false))
            case .retry:
                if fresh.rule != schedule.rule || fresh.maxAttempts != schedule.maxAttempts
                    || fresh.backoff != schedule.backoff
                {
                    schedule = EpisodeSchedule(
                        rule: fresh.rule, maxAttempts: fresh.maxAttempts, backoff: fresh.backoff, due: schedule.due)
                    reclassified = schedule
                }
            }
        }
        if entry.attempts >= schedule.maxAttempts {
            return .end(
                EpisodeEnded(
                    outcome: .exhausted, reason: .maxAttempts, status: status, rule: schedule.rule,
                    countsAttempt: false))
        }
        return .call(AttemptStarted(attempt: entry.attempts + 1, status: status, reclassified: reclassified))
    }

    /// The record for a retry call's outcome.
    public static func afterCall(
        entry: TaskEntry, outcome: HDPCallOutcome, now: Date, jitter: Double, retryAfterCap: Duration
    ) -> AttemptFinished? {
        guard let episode = entry.episode else { return nil }
        switch outcome {
        case .accepted:
            return AttemptFinished(call: .retry, result: outcome.result, httpStatus: 200, detail: nil, nextDue: nil)
        case .notFound:
            return AttemptFinished(call: .retry, result: outcome.result, httpStatus: 404, detail: nil, nextDue: nil)
        case .rejected(let details):
            return AttemptFinished(
                call: .retry, result: outcome.result, httpStatus: 400, detail: truncated(details, to: 512), nextDue: nil
            )
        default:
            return Self.transient(outcome, call: .retry, episode: episode, now: now, jitter: jitter, cap: retryAfterCap)
        }
    }

    /// A transient failure: try again after the episode's backoff, or after `Retry-After` when
    /// HDP said so and it is later (capped by `dispatch.retry_after_cap`).
    static func transient(
        _ outcome: HDPCallOutcome, call: CallKind, episode: Episode, now: Date, jitter: Double, cap: Duration
    ) -> AttemptFinished {
        var delay = episode.schedule.backoff.delay(tries: episode.tries + 1, unit: jitter)
        var httpStatus: Int?
        var detail: String?
        switch outcome {
        case .rateLimited(let retryAfter):
            httpStatus = 429
            if let retryAfter { delay = max(delay, min(retryAfter, cap)) }
        case .unauthorized(let code): httpStatus = code
        case .serverError(let code): httpStatus = code
        case .networkError(let description), .connectionLost(let description):
            detail = truncated(description, to: 256)
        default: break
        }
        return AttemptFinished(
            call: call, result: outcome.result, httpStatus: httpStatus, detail: detail,
            nextDue: now.addingTimeInterval(delay.secondsDouble),
            outcomeUnknown: call == .retry && outcome.outcomeUnknown
        )
    }
}

extension Ledger {
    /// ``Decisions/delivery(_:seen:entry:now:jitter:classify:)`` over this state.
    public func decide(
        _ input: DeliveryInput, now: Date, jitter: Double, classify: (RuleEvent) -> Classification
    ) -> DeliveryVerdict {
        Decisions.delivery(
            input, seen: seenDelivery(input.deliveryKey, now: now), entry: tasks[input.notice.taskID], now: now,
            jitter: jitter, classify: classify)
    }

    /// ``Decisions/afterStatus(of:entry:outcome:now:jitter:retryAfterCap:classify:)`` over this state.
    public func decideAfterStatus(
        of task: TaskID, outcome: HDPStatusOutcome?, now: Date, jitter: Double, retryAfterCap: Duration,
        classify: (RuleEvent) -> Classification
    ) -> StatusVerdict? {
        guard let entry = tasks[task] else { return nil }
        return Decisions.afterStatus(
            of: task, entry: entry, outcome: outcome, now: now, jitter: jitter, retryAfterCap: retryAfterCap,
            classify: classify)
    }

    /// ``Decisions/afterCall(entry:outcome:now:jitter:retryAfterCap:)`` over this state.
    public func decideAfterCall(
        of task: TaskID, outcome: HDPCallOutcome, now: Date, jitter: Double, retryAfterCap: Duration
    ) -> AttemptFinished? {
        guard let entry = tasks[task] else { return nil }
        return Decisions.afterCall(
            entry: entry, outcome: outcome, now: now, jitter: jitter, retryAfterCap: retryAfterCap)
    }
}

/// `text` cut to at most `limit` UTF-8 bytes on a character boundary.
func truncated(_ text: String, to limit: Int) -> String {
    guard text.utf8.count > limit else { return text }
    var end = text.utf8.index(text.utf8.startIndex, offsetBy: limit)
    while end > text.startIndex, text.utf8[end] & 0xC0 == 0x80 { end = text.utf8.index(before: end) }
    return String(text[..<end])
}
