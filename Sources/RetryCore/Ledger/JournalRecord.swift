#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line of the journal: everything the agent learned or decided, in order.
///
/// On disk it is one JSON object per line (see ``JournalCodec``):
/// `{"v":1,"seq":7,"time":"…","type":"delivery","task":"01J…","data":{…},"crc":"1a2b3c4d"}`.
public struct JournalRecord: Sendable, Hashable {
    /// The on-disk schema version this build writes and reads.
    public static let schemaVersion = 1

    /// Position in the journal, strictly increasing from 1.
    public var seq: UInt64
    /// When the record was made (millisecond precision on disk).
    public var time: Date
    /// The task the record is about; `nil` for agent-wide records (breaker, compaction).
    public var task: TaskID?
    public var body: RecordBody

    public init(seq: UInt64, time: Date, task: TaskID?, body: RecordBody) {
        self.seq = seq
        self.time = time
        self.task = task
        self.body = body
    }
}

/// The kinds of record. Each is one state transition, so a torn write can never leave half of one.
public enum RecordBody: Sendable, Hashable {
    /// A delivery was authenticated, classified and answered; carries the decision.
    case delivery(DeliveryRecord)
    /// The status check passed and a retry call is about to be sent.
    case attemptStarted(AttemptStarted)
    /// A retry call (or, for `call == .status`, a status check) came back.
    case attemptFinished(AttemptFinished)
    /// An episode ended without a retry call: superseded, not found, gave up, exhausted.
    case episodeEnded(EpisodeEnded)
    /// The circuit breaker changed state.
    case breaker(BreakerSnapshot)
    /// Compaction: the live state of one task.
    case taskSnapshot(TaskSnapshot)
    /// Compaction: delivery ids still inside the dedup window.
    case deliveriesSnapshot([SeenDelivery])

    /// The `type` field on disk.
    public var typeName: String {
        switch self {
        case .delivery: "delivery"
        case .attemptStarted: "attempt_started"
        case .attemptFinished: "attempt_finished"
        case .episodeEnded: "episode_ended"
        case .breaker: "breaker"
        case .taskSnapshot: "task_snapshot"
        case .deliveriesSnapshot: "deliveries_snapshot"
        }
    }
}

/// What the agent answered for a new delivery (the `decision` of the 202 body).
public enum DeliveryDecision: String, Sendable, Hashable, CaseIterable {
    case retryScheduled = "retry_scheduled"
    case coalesced
    case gaveUp = "gave_up"
    case ignored
    case exhausted
}

/// A delivery accepted and decided.
public struct DeliveryRecord: Sendable, Hashable {
    /// The id the sender gave (or the body hash); kept in the journal for people.
    public let deliveryID: DeliveryID
    /// What the dedup table knows the id by, worked out once when the record is made.
    public let deliveryKey: DeliveryKey
    public var correlationID: String
    public var status: String
    public var error: String?
    /// The sender's `timestamp`, when it gave one.
    public var noticeTime: Date?
    public var decision: DeliveryDecision
    /// Why, in a word.
    public var reason: DeliveryReason
    public var rule: String?
    /// Present when the decision opened an episode: the policy it runs under.
    public var schedule: EpisodeSchedule?
    /// Where the delivery came from: the webhook listener, or a reconciliation sweep.
    public var source: DeliverySource
    /// The notice's body, bounded, when the rules decided the delivery (reason `rule` or
    /// `max_attempts`): what deciding it again needs. `nil` for other deliveries and in records
    /// written before payloads were kept.
    public var payload: DeliveryPayload?

    public init(
        deliveryID: String, correlationID: String, status: String, error: String?, noticeTime: Date?,
        decision: DeliveryDecision, reason: DeliveryReason, rule: String?, schedule: EpisodeSchedule?,
        source: DeliverySource = .webhook, payload: DeliveryPayload? = nil
    ) {
        self.init(
            deliveryID: DeliveryID(deliveryID), correlationID: correlationID, status: status, error: error,
            noticeTime: noticeTime, decision: decision, reason: reason, rule: rule, schedule: schedule, source: source,
            payload: payload)
    }

    /// A delivery whose id is already a ``DeliveryID`` (the decoder reads it from the line's bytes).
    public init(
        deliveryID: DeliveryID, correlationID: String, status: String, error: String?, noticeTime: Date?,
        decision: DeliveryDecision, reason: DeliveryReason, rule: String?, schedule: EpisodeSchedule?,
        source: DeliverySource = .webhook, payload: DeliveryPayload? = nil
    ) {
        self.init(
            deliveryID: deliveryID, deliveryKey: DeliveryKey(id: deliveryID), correlationID: correlationID,
            status: status, error: error, noticeTime: noticeTime, decision: decision, reason: reason, rule: rule,
            schedule: schedule, source: source, payload: payload)
    }

    /// A delivery whose id's key was worked out already (``DeliveryInput`` hashes it once for the
    /// dedup lookup and the record); `deliveryKey` must be `DeliveryKey(id: deliveryID)`.
    init(
        deliveryID: DeliveryID, deliveryKey: DeliveryKey, correlationID: String, status: String, error: String?,
        noticeTime: Date?, decision: DeliveryDecision, reason: DeliveryReason, rule: String?,
        schedule: EpisodeSchedule?,
        source: DeliverySource = .webhook, payload: DeliveryPayload? = nil
    ) {
        self.deliveryID = deliveryID
        self.deliveryKey = deliveryKey
        self.correlationID = correlationID
        self.status = status
        self.error = error
        self.noticeTime = noticeTime
        self.decision = decision
        self.reason = reason
        self.rule = rule
        self.schedule = schedule
        self.source = source
        self.payload = payload
    }
}

/// The policy an episode runs under, fixed when it opens (or when a fresher status reclassifies it),
/// so a restarted agent keeps using it even if the rules changed meanwhile.
public struct EpisodeSchedule: Sendable, Hashable {
    public var rule: String
    public var maxAttempts: Int
    public var backoff: BackoffPolicy
    /// When the next try is due.
    public var due: Date

    public init(rule: String, maxAttempts: Int, backoff: BackoffPolicy, due: Date) {
        self.rule = rule
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.due = due
    }
}

/// A retry call is about to go out.
public struct AttemptStarted: Sendable, Hashable {
    /// The attempt number: accepted retries so far + 1.
    public var attempt: Int
    /// The status HDP reported just before (or the notice's, without a status check).
    public var status: String
    /// Set when the fresh status or error led to a different rule than the episode had.
    public var reclassified: EpisodeSchedule?

    public init(attempt: Int, status: String, reclassified: EpisodeSchedule?) {
        self.attempt = attempt
        self.status = status
        self.reclassified = reclassified
    }
}

/// Which HDP call a result belongs to.
public enum CallKind: String, Sendable, Hashable {
    case retry
    case status
}

/// An HDP call came back (or failed).
public struct AttemptFinished: Sendable, Hashable {
    public var call: CallKind
    /// How the call ended (`hdp_retry_calls_total{result}` for retries), or `dry_run`.
    public var result: CallResult
    public var httpStatus: Int?
    /// HDP's `details` for a 400, or a short transport error description.
    public var detail: String?
    /// When the task is tried again, for results that keep the episode open.
    public var nextDue: Date?
    /// The retry may have reached HDP without its answer reaching the agent (a timeout, a lost
    /// connection): the attempt stays marked as started, so the next try checks the status first.
    public var outcomeUnknown: Bool

    public init(
        call: CallKind, result: CallResult, httpStatus: Int?, detail: String?, nextDue: Date?,
        outcomeUnknown: Bool = false
    ) {
        self.call = call
        self.result = result
        self.httpStatus = httpStatus
        self.detail = detail
        self.nextDue = nextDue
        self.outcomeUnknown = outcomeUnknown
    }
}

/// An episode ended without a retry call being answered.
public struct EpisodeEnded: Sendable, Hashable {
    public var outcome: EpisodeOutcome
    public var reason: EndReason
    public var status: String?
    public var rule: String?
    /// An interrupted attempt that the status check shows went through counts as an attempt.
    public var countsAttempt: Bool

    public init(outcome: EpisodeOutcome, reason: EndReason, status: String?, rule: String?, countsAttempt: Bool) {
        self.outcome = outcome
        self.reason = reason
        self.status = status
        self.rule = rule
        self.countsAttempt = countsAttempt
    }
}

/// The circuit breaker's durable state.
public struct BreakerSnapshot: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, CaseIterable {
        case closed
        case open
        case halfOpen = "half_open"

        /// The `hdp_retry_circuit_state` gauge value.
        public var gaugeValue: Double {
            switch self {
            case .closed: 0
            case .open: 1
            case .halfOpen: 2
            }
        }
    }

    public var state: State
    /// When an open breaker lets probes through.
    public var openUntil: Date?
    /// Consecutive trips without a successful probe; the cool-down doubles with each.
    public var trips: Int

    public init(state: State, openUntil: Date?, trips: Int) {
        self.state = state
        self.openUntil = openUntil
        self.trips = trips
    }

    public static let closed = BreakerSnapshot(state: .closed, openUntil: nil, trips: 0)
}

/// A task's live state as compaction writes it.
public struct TaskSnapshot: Sendable, Hashable {
    public var attempts: Int
    public var lastAcceptedAt: Date?
    public var state: TaskState
    public var episode: Episode?
    /// ``TaskEntry/decidedThrough``; absent in snapshots written before reconciliation existed.
    public var decidedThrough: Date?

    public init(
        attempts: Int, lastAcceptedAt: Date?, state: TaskState, episode: Episode?, decidedThrough: Date? = nil
    ) {
        self.attempts = attempts
        self.lastAcceptedAt = lastAcceptedAt
        self.state = state
        self.episode = episode
        self.decidedThrough = decidedThrough
    }
}

/// A delivery remembered for deduplication.
public struct SeenDelivery: Sendable, Hashable {
    public var key: DeliveryKey
    public var at: Date
    public var task: TaskID?
    public var decision: DeliveryDecision

    public init(key: DeliveryKey, at: Date, task: TaskID?, decision: DeliveryDecision) {
        self.key = key
        self.at = at
        self.task = task
        self.decision = decision
    }
}

/// What the dedup table knows a delivery id by: the first 128 bits of the SHA-256 of the id.
///
/// Delivery ids are strings of any length chosen by senders (`msg_…` for Standard Webhooks,
/// `sha256:` and 64 hexadecimal digits for a body hash); the table remembers hundreds of
/// thousands of them. As a fixed 16-byte value a key is stored, hashed and compared without
/// allocation or reference counting, and a journal of any id length replays at one speed. A
/// cryptographic digest, so two ids that differ never share a key by accident, nor by design: a
/// sender cannot craft an id that makes another delivery look like a duplicate. Compaction writes
/// keys, not ids (``description``, 32 hexadecimal digits).
public struct DeliveryKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    private let high: UInt64
    private let low: UInt64

    /// The key of the delivery id `id`.
    public init(id: String) {
        self.init(id: DeliveryID(id))
    }

    /// The key of the delivery id `id`.
    public init(id: DeliveryID) {
        (high, low) = id.withUTF8 { Crypto.sha256Prefix128($0) }
    }

    /// Reads the 32 lower-case hexadecimal digits of ``description``.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 32, let bytes = Crypto.hexDecoded(hex) else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: bytes) }
        (high, low) = (UInt64(bigEndian: words.0), UInt64(bigEndian: words.1))
    }

    /// 32 lower-case hexadecimal digits.
    public var description: String {
        var words = (high.bigEndian, low.bigEndian)
        return withUnsafeBytes(of: &words) { Crypto.hexEncoded($0) }
    }

    public static func < (lhs: DeliveryKey, rhs: DeliveryKey) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}
