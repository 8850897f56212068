import Foundation
import RetryCore

/// Encodes and decodes journal lines.
///
/// A line is one JSON object, fields in a fixed order, ending with a CRC-32C of every byte before
/// `,"crc":`:
///
/// ```
/// {"v":1,"seq":7,"time":"2026-11-29T10:00:00.000Z","type":"delivery","task":"01J…","data":{…},"crc":"1a2b3c4d"}
/// ```
///
/// The checksum sits at a fixed distance from the end, so a line can be verified without parsing it.
public enum JournalCodec {
    /// `,"crc":"` + 8 hex digits + `"}`.
    static let suffixLength = 18
    private static let crcPrefix = Array(#","crc":""#.utf8)

    /// Why a line cannot be read.
    public struct DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        /// Whether the line's checksum matched: the bytes are the ones written, so the line is
        /// whole (not a torn write) and simply unreadable to this build.
        public var checksumMatched = true
        public var description: String { message }
    }

    /// The line for `record`, including its trailing newline.
    public static func encode(_ record: JournalRecord) -> [UInt8] {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("v")
        writer.int(JournalRecord.schemaVersion)
        writeFields(of: record, into: &writer)
        var bytes = writer.bytes
        let crc = CRC32C.checksum(bytes)
        bytes.append(contentsOf: crcPrefix)
        bytes.append(contentsOf: hex8(crc))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: "}"))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Writes `seq`, `time`, `type`, `task` and `data` into an open object: the record without
    /// its integrity fields, as the task view shows it.
    public static func writeFields(of record: JournalRecord, into writer: inout JSONWriter) {
        writer.key("seq")
        writer.uint(record.seq)
        writer.key("time")
        writer.date(record.time)
        writer.key("type")
        writer.string(record.body.typeName)
        writer.field("task", record.task?.rawValue)
        writer.key("data")
        encodeBody(record.body, into: &writer)
    }

    /// The record's `seq`, `time`, `type`, `task` and `data` as a JSON value (the task view's
    /// history entries).
    public static func fields(of record: JournalRecord) -> JSONValue {
        var writer = JSONWriter()
        writer.beginObject()
        writeFields(of: record, into: &writer)
        writer.endObject()
        return (try? JSONParser.parse(writer.bytes)) ?? .null
    }

    /// Whether the line's checksum matches (the line without its newline).
    public static func checksumMatches(_ line: UnsafeRawBufferPointer) -> Bool {
        guard line.count > suffixLength + 2, let base = line.baseAddress else { return false }
        let bodyEnd = line.count - suffixLength
        let prefixMatches = crcPrefix.withUnsafeBytes { prefix in
            memcmp(base + bodyEnd, prefix.baseAddress.unsafelyUnwrapped, prefix.count) == 0
        }
        guard prefixMatches, line[line.count - 2] == UInt8(ascii: "\""), line[line.count - 1] == UInt8(ascii: "}")
        else { return false }
        var stored: UInt32 = 0
        for index in (bodyEnd + crcPrefix.count)..<(line.count - 2) {
            let byte = line[index]
            let digit: UInt32
            switch byte {
            case 48...57: digit = UInt32(byte - 48)
            case 97...102: digit = UInt32(byte - 87)
            default: return false
            }
            stored = stored << 4 | digit
        }
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: line[0..<bodyEnd])) == stored
    }

    /// Decodes one line (without its newline); verifies the checksum first.
    public static func decode(_ line: UnsafeRawBufferPointer) throws(DecodeError) -> JournalRecord {
        var decoder = FastDecoder()
        return try decode(line, using: &decoder)
    }

    /// Decodes one line with `decoder`, which keeps what it learns (the strings it interned) for
    /// the next lines of the same replay. A line in the encoder's exact shape is read by the fast
    /// decoder; any other line (older spellings, hand edits, errors) by the general path, which
    /// has the last word.
    static func decode(
        _ line: UnsafeRawBufferPointer, using decoder: inout FastDecoder
    ) throws(DecodeError)
        -> JournalRecord
    {
        guard checksumMatches(line) else { throw DecodeError(message: "checksum mismatch", checksumMatched: false) }
        if let record = decoder.record(line) { return record }
        return try decodeGeneral(line)
    }

    /// Decodes a line whose checksum matched through the general path: a `JSONValue` tree, then
    /// fields by name in any order.
    static func decodeGeneral(_ line: UnsafeRawBufferPointer) throws(DecodeError) -> JournalRecord {
        let json: JSONValue
        do {
            json = try JSONParser.parse(line)
        } catch {
            throw DecodeError(message: "invalid JSON: \(error)")
        }
        return try record(from: json)
    }

    /// Decodes one line held in an array.
    public static func decode(_ line: [UInt8]) throws(DecodeError) -> JournalRecord {
        let result = line.withUnsafeBytes { buffer in Result { () throws(DecodeError) in try decode(buffer) } }
        return try result.get()
    }

    private static func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return (0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }

    // MARK: Encoding bodies

    private static func encodeBody(_ body: RecordBody, into writer: inout JSONWriter) {
        writer.beginObject()
        switch body {
        case .delivery(let delivery):
            writer.field("delivery_id", delivery.deliveryID.description)
            // Only when not `webhook`: most lines, and every journal from before, go without it.
            if delivery.source != .webhook { writer.field("source", delivery.source.rawValue) }
            writer.field("correlation_id", delivery.correlationID)
            writer.field("status", delivery.status)
            writer.field("error", delivery.error)
            writer.field("notice_time", delivery.noticeTime)
            writer.field("decision", delivery.decision.rawValue)
            writer.field("reason", delivery.reason.rawValue)
            writer.field("rule", delivery.rule)
            if let schedule = delivery.schedule {
                writer.key("schedule")
                encode(schedule, into: &writer)
            }
            // Last, so the fixed fields stay where readers (and people) expect them.
            encode(delivery.payload, into: &writer)
        case .attemptStarted(let started):
            writer.field("attempt", started.attempt)
            writer.field("status", started.status)
            if let schedule = started.reclassified {
                writer.key("reclassified")
                encode(schedule, into: &writer)
            }
        case .attemptFinished(let finished):
            writer.field("call", finished.call.rawValue)
            writer.field("result", finished.result.rawValue)
            writer.field("http_status", finished.httpStatus)
            writer.field("detail", finished.detail)
            writer.field("next_due", finished.nextDue)
            if finished.outcomeUnknown { writer.field("outcome_unknown", true) }
        case .episodeEnded(let ended):
            writer.field("outcome", ended.outcome.rawValue)
            writer.field("reason", ended.reason.rawValue)
            writer.field("status", ended.status)
            writer.field("rule", ended.rule)
            if ended.countsAttempt { writer.field("counts_attempt", true) }
        case .breaker(let snapshot):
            writer.field("state", snapshot.state.rawValue)
            writer.field("open_until", snapshot.openUntil)
            writer.field("trips", snapshot.trips)
        case .taskSnapshot(let snapshot):
            writer.field("attempts", snapshot.attempts)
            writer.field("last_accepted_at", snapshot.lastAcceptedAt)
            writer.field("state", snapshot.state.rawValue)
            writer.field("decided_through", snapshot.decidedThrough)
            if let episode = snapshot.episode {
                writer.key("episode")
                writer.beginObject()
                writer.key("opened_seq")
                writer.uint(episode.openedSeq)
                writer.field("opened_at", episode.openedAt)
                writer.field("correlation_id", episode.correlationID)
                writer.key("schedule")
                encode(episode.schedule, into: &writer)
                writer.field("status", episode.status)
                writer.field("error", episode.error)
                writer.field("tries", episode.tries)
                writer.field("in_flight_attempt", episode.inFlightAttempt)
                encode(episode.payload, into: &writer)
                writer.endObject()
            }
        case .deliveriesSnapshot(let deliveries):
            writer.key("deliveries")
            writer.beginArray()
            for delivery in deliveries {
                writer.beginObject()
                writer.field("key", delivery.key.description)
                writer.field("at", delivery.at)
                writer.field("task", delivery.task?.rawValue)
                writer.field("decision", delivery.decision.rawValue)
                writer.endObject()
            }
            writer.endArray()
        }
        writer.endObject()
    }

    /// `"payload_truncated":[paths…]` (only for a cut-down payload), then `"payload":{…}`, as
    /// its canonical JSON; nothing without a payload.
    private static func encode(_ payload: DeliveryPayload?, into writer: inout JSONWriter) {
        guard let payload else { return }
        if let kept = payload.keptPaths {
            writer.key("payload_truncated")
            writer.beginArray()
            for path in kept { writer.string(path) }
            writer.endArray()
        }
        writer.key("payload")
        writer.encoded(payload.json)
    }

    private static func encode(_ schedule: EpisodeSchedule, into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("rule", schedule.rule)
        writer.field("max_attempts", schedule.maxAttempts)
        writer.key("backoff")
        writer.beginObject()
        writer.field("initial", DurationText.format(schedule.backoff.initial))
        writer.key("factor")
        writer.double(schedule.backoff.factor)
        writer.field("max", DurationText.format(schedule.backoff.max))
        writer.field("jitter", schedule.backoff.jitter.rawValue)
        writer.endObject()
        writer.field("due", schedule.due)
        writer.endObject()
    }
}
