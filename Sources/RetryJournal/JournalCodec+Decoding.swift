import Foundation
import RetryCore

extension JournalCodec {
    /// Reads fields out of a decoded object, failing with the field's name.
    struct Fields {
        let members: [String: JSONValue]
        let context: String

        init(_ value: JSONValue?, _ context: String) throws(DecodeError) {
            guard case .object(let members) = value else { throw DecodeError(message: "\(context) is not an object") }
            self.members = members
            self.context = context
        }

        func fail(_ name: String) -> DecodeError { DecodeError(message: "\(context).\(name) is missing or invalid") }

        func string(_ name: String) throws(DecodeError) -> String {
            guard case .string(let value) = members[name] else { throw fail(name) }
            return value
        }

        func optionalString(_ name: String) throws(DecodeError) -> String? {
            switch members[name] {
            case .none, .null: return nil
            case .string(let value): return value
            default: throw fail(name)
            }
        }

        func int(_ name: String) throws(DecodeError) -> Int {
            guard case .number(let value) = members[name], value.rounded() == value, abs(value) < 1e15 else {
                throw fail(name)
            }
            return Int(value)
        }

        func optionalInt(_ name: String) throws(DecodeError) -> Int? {
            if members[name] == nil || members[name] == .null { return nil }
            return try int(name)
        }

        func double(_ name: String) throws(DecodeError) -> Double {
            guard case .number(let value) = members[name] else { throw fail(name) }
            return value
        }

        func date(_ name: String) throws(DecodeError) -> Date {
            guard case .string(let text) = members[name], let date = ISO8601.parse(text) else { throw fail(name) }
            return date
        }

        func optionalDate(_ name: String) throws(DecodeError) -> Date? {
            if members[name] == nil || members[name] == .null { return nil }
            return try date(name)
        }

        func bool(_ name: String) throws(DecodeError) -> Bool {
            switch members[name] {
            case .none, .null: return false
            case .bool(let value): return value
            default: throw fail(name)
            }
        }

        func enumeration<T: RawRepresentable>(_ name: String, _: T.Type) throws(DecodeError) -> T
        where T.RawValue == String {
            guard let value = T(rawValue: try string(name)) else { throw fail(name) }
            return value
        }

        func optionalEnumeration<T: RawRepresentable>(_ name: String, _: T.Type) throws(DecodeError) -> T?
        where T.RawValue == String {
            guard let text = try optionalString(name) else { return nil }
            guard let value = T(rawValue: text) else { throw fail(name) }
            return value
        }

        func task(_ name: String) throws(DecodeError) -> TaskID? {
            guard let text = try optionalString(name) else { return nil }
            guard let task = TaskID(text) else { throw fail(name) }
            return task
        }
    }

    static func record(from json: JSONValue) throws(DecodeError) -> JournalRecord {
        let top = try Fields(json, "record")
        let version = try top.int("v")
        guard version == JournalRecord.schemaVersion else {
            throw DecodeError(
                message:
                    "schema version \(version) is not supported by this build (reads \(JournalRecord.schemaVersion))")
        }
        let seq = try top.int("seq")
        guard seq > 0 else { throw top.fail("seq") }
        let time = try top.date("time")
        let task = try top.task("task")
        let type = try top.string("type")
        let data = try Fields(top.members["data"], "data")
        let body: RecordBody
        switch type {
        case "delivery":
            body = .delivery(
                DeliveryRecord(
                    deliveryID: try data.string("delivery_id"), correlationID: try data.string("correlation_id"),
                    status: try data.string("status"), error: try data.optionalString("error"),
                    noticeTime: try data.optionalDate("notice_time"),
                    decision: try data.enumeration("decision", DeliveryDecision.self),
                    reason: try data.enumeration("reason", DeliveryReason.self),
                    rule: try data.optionalString("rule"), schedule: try optionalSchedule(data.members["schedule"]),
                    source: try data.optionalEnumeration("source", DeliverySource.self) ?? .webhook,
                    payload: try payload(data)
                )
            )
        case "attempt_started":
            body = .attemptStarted(
                AttemptStarted(
                    attempt: try data.int("attempt"), status: try data.string("status"),
                    reclassified: try optionalSchedule(data.members["reclassified"])
                )
            )
        case "attempt_finished":
            body = .attemptFinished(
                AttemptFinished(
                    call: try data.enumeration("call", CallKind.self),
                    result: try data.enumeration("result", CallResult.self),
                    httpStatus: try data.optionalInt("http_status"), detail: try data.optionalString("detail"),
                    nextDue: try data.optionalDate("next_due"), outcomeUnknown: try data.bool("outcome_unknown")
                )
            )
        case "episode_ended":
            body = .episodeEnded(
                EpisodeEnded(
                    outcome: try data.enumeration("outcome", EpisodeOutcome.self),
                    reason: try data.enumeration("reason", EndReason.self),
                    status: try data.optionalString("status"), rule: try data.optionalString("rule"),
                    countsAttempt: try data.bool("counts_attempt")
                )
            )
        case "breaker":
            body = .breaker(
                BreakerSnapshot(
                    state: try data.enumeration("state", BreakerSnapshot.State.self),
                    openUntil: try data.optionalDate("open_until"), trips: try data.int("trips")
                )
            )
        case "task_snapshot":
            var episode: Episode?
            if let value = data.members["episode"], value != .null {
                let fields = try Fields(value, "episode")
                let openedSeq = try fields.int("opened_seq")
                guard openedSeq >= 0 else { throw fields.fail("opened_seq") }
                episode = Episode(
                    openedSeq: UInt64(openedSeq), openedAt: try fields.date("opened_at"),
                    correlationID: try fields.string("correlation_id"),
                    schedule: try schedule(fields.members["schedule"]),
                    status: try fields.string("status"), error: try fields.optionalString("error"),
                    tries: try fields.int("tries"), inFlightAttempt: try fields.optionalInt("in_flight_attempt"),
                    payload: try payload(fields)
                )
            }
            body = .taskSnapshot(
                TaskSnapshot(
                    attempts: try data.int("attempts"), lastAcceptedAt: try data.optionalDate("last_accepted_at"),
                    state: try data.enumeration("state", TaskState.self), episode: episode,
                    decidedThrough: try data.optionalDate("decided_through")
                )
            )
        case "deliveries_snapshot":
            guard case .array(let items) = data.members["deliveries"] else { throw data.fail("deliveries") }
            var seen: [SeenDelivery] = []
            seen.reserveCapacity(items.count)
            for item in items {
                let fields = try Fields(item, "deliveries[]")
                // Snapshots written before keys replaced ids carry the id itself.
                let key: DeliveryKey
                if let hex = try fields.optionalString("key") {
                    guard let value = DeliveryKey(hex: hex) else { throw fields.fail("key") }
                    key = value
                } else {
                    key = DeliveryKey(id: try fields.string("id"))
                }
                seen.append(
                    SeenDelivery(
                        key: key, at: try fields.date("at"), task: try fields.task("task"),
                        decision: try fields.enumeration("decision", DeliveryDecision.self)
                    )
                )
            }
            body = .deliveriesSnapshot(seen)
        default:
            throw DecodeError(message: "unknown record type '\(type)'")
        }
        return JournalRecord(seq: UInt64(seq), time: time, task: task, body: body)
    }

    /// `payload` (any JSON value; `null` or absent: none) and `payload_truncated` (the kept
    /// paths, only beside a payload). The payload is kept as its canonical JSON.
    private static func payload(_ fields: Fields) throws(DecodeError) -> DeliveryPayload? {
        var kept: [String]?
        switch fields.members["payload_truncated"] {
        case .none, .null: break
        case .array(let items):
            var paths: [String] = []
            for item in items {
                guard case .string(let path) = item else { throw fields.fail("payload_truncated") }
                paths.append(path)
            }
            kept = paths
        default: throw fields.fail("payload_truncated")
        }
        guard let value = fields.members["payload"], value != .null else {
            if kept != nil { throw fields.fail("payload") }
            return nil
        }
        return DeliveryPayload(
            canonicalJSON: String(decoding: JSONWriter.canonical(value), as: UTF8.self), keptPaths: kept)
    }

    private static func optionalSchedule(_ value: JSONValue?) throws(DecodeError) -> EpisodeSchedule? {
        guard let value, value != .null else { return nil }
        return try schedule(value)
    }

    private static func schedule(_ value: JSONValue?) throws(DecodeError) -> EpisodeSchedule {
        let fields = try Fields(value, "schedule")
        let backoff = try Fields(fields.members["backoff"], "backoff")
        guard let initial = DurationText.parse(try backoff.string("initial")) else { throw backoff.fail("initial") }
        guard let max = DurationText.parse(try backoff.string("max")) else { throw backoff.fail("max") }
        return EpisodeSchedule(
            rule: try fields.string("rule"), maxAttempts: try fields.int("max_attempts"),
            backoff: BackoffPolicy(
                initial: initial, factor: try backoff.double("factor"), max: max,
                jitter: try backoff.enumeration("jitter", BackoffPolicy.Jitter.self)
            ),
            due: try fields.date("due")
        )
    }
}
