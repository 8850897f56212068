import Foundation
import RetryCore

extension JournalCodec.FastDecoder {
    private static let decisions = DeliveryDecision.allCases
    private static let outcomes = EpisodeOutcome.allCases
    private static let deliveryReasons = DeliveryReason.allCases
    private static let endReasons = EndReason.allCases
    private static let callResults = CallResult.allCases
    private static let taskStates = TaskState.allCases
    private static let jitters = BackoffPolicy.Jitter.allCases
    private static let calls: [CallKind] = [.retry, .status]
    private static let breakerStates: [BreakerSnapshot.State] = [.closed, .open, .halfOpen]
    private static let sources = DeliverySource.allCases

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount, let base = bytes.baseAddress else { return false }
        return memcmp(base, text.utf8Start, bytes.count) == 0
    }

    /// The `data` object of a record of type `type`, fields in the encoder's order.
    mutating func body(type: UnsafeRawBufferPointer) -> RecordBody? {
        guard literal("{") else { return nil }
        let body: RecordBody?
        if Self.equals(type, "delivery") {
            body = delivery().map(RecordBody.delivery)
        } else if Self.equals(type, "attempt_started") {
            body = attemptStarted().map(RecordBody.attemptStarted)
        } else if Self.equals(type, "attempt_finished") {
            body = attemptFinished().map(RecordBody.attemptFinished)
        } else if Self.equals(type, "episode_ended") {
            body = episodeEnded().map(RecordBody.episodeEnded)
        } else if Self.equals(type, "breaker") {
            body = breaker().map(RecordBody.breaker)
        } else if Self.equals(type, "task_snapshot") {
            body = taskSnapshot().map(RecordBody.taskSnapshot)
        } else if Self.equals(type, "deliveries_snapshot") {
            body = deliveriesSnapshot().map(RecordBody.deliveriesSnapshot)
        } else {
            body = nil
        }
        guard let body, endObject() else { return nil }
        return body
    }

    private mutating func delivery() -> DeliveryRecord? {
        guard key("delivery_id", first: true), let deliveryIDBytes = plainString(),
            let deliveryID = DeliveryID(utf8: deliveryIDBytes),
            case .some(let source) = optionalSource(),
            key("correlation_id", first: false), let correlationID = string(),
            key("status", first: false), let status = word(),
            case .some(let error) = optionalWord("error"),
            case .some(let noticeTime) = optionalDate("notice_time"),
            key("decision", first: false), let decision = enumeration(Self.decisions),
            key("reason", first: false), let reason = enumeration(Self.deliveryReasons),
            case .some(let rule) = optionalWord("rule")
        else { return nil }
        var schedule: EpisodeSchedule?
        if key("schedule", first: false) {
            guard let value = self.schedule() else { return nil }
            schedule = value
        }
        guard case .some(let payload) = optionalPayload() else { return nil }
        return DeliveryRecord(
            deliveryID: deliveryID, correlationID: correlationID, status: status, error: error,
            noticeTime: noticeTime, decision: decision, reason: reason, rule: rule, schedule: schedule,
            source: source ?? .webhook, payload: payload)
    }

    /// The `source` of a delivery, written only when not `webhook`: `.some(nil)` when absent.
    private mutating func optionalSource() -> DeliverySource?? {
        guard key("source", first: false) else { return .some(nil) }
        guard let source = enumeration(Self.sources) else { return nil }
        return .some(source)
    }

    private mutating func attemptStarted() -> AttemptStarted? {
        guard key("attempt", first: true), let attempt = int(), key("status", first: false), let status = word()
        else { return nil }
        var reclassified: EpisodeSchedule?
        if key("reclassified", first: false) {
            guard let value = schedule() else { return nil }
            reclassified = value
        }
        return AttemptStarted(attempt: attempt, status: status, reclassified: reclassified)
    }

    private mutating func attemptFinished() -> AttemptFinished? {
        guard key("call", first: true), let call = enumeration(Self.calls),
            key("result", first: false), let result = enumeration(Self.callResults),
            case .some(let httpStatus) = optionalInt("http_status"),
            case .some(let detail) = optionalWord("detail"),
            case .some(let nextDue) = optionalDate("next_due")
        else { return nil }
        var outcomeUnknown = false
        if key("outcome_unknown", first: false) {
            guard let value = bool() else { return nil }
            outcomeUnknown = value
        }
        return AttemptFinished(
            call: call, result: result, httpStatus: httpStatus, detail: detail, nextDue: nextDue,
            outcomeUnknown: outcomeUnknown)
    }

    private mutating func episodeEnded() -> EpisodeEnded? {
        guard key("outcome", first: true), let outcome = enumeration(Self.outcomes),
            key("reason", first: false), let reason = enumeration(Self.endReasons),
            case .some(let status) = optionalWord("status"),
            case .some(let rule) = optionalWord("rule")
        else { return nil }
        var countsAttempt = false
        if key("counts_attempt", first: false) {
            guard let value = bool() else { return nil }
            countsAttempt = value
        }
        return EpisodeEnded(outcome: outcome, reason: reason, status: status, rule: rule, countsAttempt: countsAttempt)
    }

    private mutating func breaker() -> BreakerSnapshot? {
        guard key("state", first: true), let state = enumeration(Self.breakerStates),
            case .some(let openUntil) = optionalDate("open_until"),
            key("trips", first: false), let trips = int()
        else { return nil }
        return BreakerSnapshot(state: state, openUntil: openUntil, trips: trips)
    }

    private mutating func taskSnapshot() -> TaskSnapshot? {
        guard key("attempts", first: true), let attempts = int(),
            case .some(let lastAcceptedAt) = optionalDate("last_accepted_at"),
            key("state", first: false), let state = enumeration(Self.taskStates),
            case .some(let decidedThrough) = optionalDate("decided_through")
        else { return nil }
        var episode: Episode?
        if key("episode", first: false) {
            guard literal("{"), key("opened_seq", first: true), let openedSeq = int(), openedSeq >= 0,
                key("opened_at", first: false), let openedAt = date(),
                key("correlation_id", first: false), let correlationID = string(),
                key("schedule", first: false), let schedule = schedule(),
                key("status", first: false), let status = word(),
                case .some(let error) = optionalWord("error"),
                key("tries", first: false), let tries = int(),
                case .some(let inFlightAttempt) = optionalInt("in_flight_attempt"),
                case .some(let payload) = optionalPayload(),
                endObject()
            else { return nil }
            episode = Episode(
                openedSeq: UInt64(openedSeq), openedAt: openedAt, correlationID: correlationID, schedule: schedule,
                status: status, error: error, tries: tries, inFlightAttempt: inFlightAttempt, payload: payload)
        }
        return TaskSnapshot(
            attempts: attempts, lastAcceptedAt: lastAcceptedAt, state: state, episode: episode,
            decidedThrough: decidedThrough)
    }

    private mutating func deliveriesSnapshot() -> [SeenDelivery]? {
        guard key("deliveries", first: true), literal("[") else { return nil }
        var seen: [SeenDelivery] = []
        if literal("]") { return seen }
        while true {
            guard literal("{"), key("key", first: true), let hex = plainString(),
                let deliveryKey = DeliveryKey(hex: String(decoding: hex, as: UTF8.self)),
                key("at", first: false), let at = date()
            else { return nil }
            var task: TaskID?
            if key("task", first: false) {
                guard let bytes = plainString(), let value = TaskID(utf8: bytes) else { return nil }
                task = value
            }
            guard key("decision", first: false), let decision = enumeration(Self.decisions), endObject() else {
                return nil
            }
            seen.append(SeenDelivery(key: deliveryKey, at: at, task: task, decision: decision))
            if literal("]") { return seen }
            guard literal(",") else { return nil }
        }
    }

    private mutating func schedule() -> EpisodeSchedule? {
        guard literal("{"), key("rule", first: true), let rule = word(),
            key("max_attempts", first: false), let maxAttempts = int(),
            key("backoff", first: false), literal("{"),
            key("initial", first: true), let initial = duration(),
            key("factor", first: false), let factor = double(),
            key("max", first: false), let max = duration(),
            key("jitter", first: false), let jitter = enumeration(Self.jitters), endObject(),
            key("due", first: false), let due = date(), endObject()
        else { return nil }
        return EpisodeSchedule(
            rule: rule, maxAttempts: maxAttempts,
            backoff: BackoffPolicy(initial: initial, factor: factor, max: max, jitter: jitter), due: due)
    }
}
