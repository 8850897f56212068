import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import RetryCore
import WebhookAuth

/// The webhook front door: body limit, media type, signature, parsing, then the engine.
///
/// Order matters: the media type and the size are checked from headers and while reading,
/// before any secret is used; the signature is checked over the raw bytes before parsing.
public struct WebhookHandler: Sendable {
    public let verifier: WebhookVerifier
    public let parser: NoticeParser
    public let engine: RetryEngine
    public let maxBodyBytes: Int
    public let clock: any AgentClock
    public let metrics: AgentMetrics?
    public let logger: Logger
    /// Rejected deliveries are logged 10 per 10 s at most (see ``LogThrottle``).
    private let rejectionLog = LogThrottle(burst: 10, interval: 10)

    public init(
        verifier: WebhookVerifier, parser: NoticeParser, engine: RetryEngine, maxBodyBytes: Int, clock: any AgentClock,
        metrics: AgentMetrics?, logger: Logger
    ) {
        self.verifier = verifier
        self.parser = parser
        self.engine = engine
        self.maxBodyBytes = maxBodyBytes
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
    }

    /// Logs a rejected delivery, unless ``rejectionLog`` holds it back; a line that follows held
    /// back ones says how many (`suppressed`).
    private func logRejection(_ message: Logger.Message, reason: String, level: Logger.Level) {
        let (admitted, suppressed) = rejectionLog.admit(now: clock.now)
        guard admitted else { return }
        var metadata: Logger.Metadata = ["reason": "\(reason)"]
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        logger.log(level: level, message, metadata: metadata)
    }

    /// How long a connection may go without a byte from the client between requests before the
    /// server closes it. A client holding connections open costs a file descriptor and a buffer
    /// only this long, and a graceful shutdown never waits on it longer (the deployments give the
    /// agent 30 s to stop). A request itself is bounded by `webhook.request_timeout`.
    public static let idleTimeout: Duration = .seconds(15)

    /// The HTTP server of the webhook listener: HTTP/1.1 with ``ListenerLimits`` (connection cap,
    /// whole-request deadline, header block limit, idle timeout) that answers
    /// `Expect: 100-continue` for bodies up to `maxBodyBytes` and closes a connection after a 413.
    public static func serverBuilder(
        maxBodyBytes: Int = 65_536, limits: ListenerLimits = ListenerLimits(), gauge: ListenerGauge = ListenerGauge()
    ) -> HTTPServerBuilder {
        .limitedHTTP1(limits: limits, gauge: gauge) {
            [ContinueBeforeBody(maxBodyBytes: maxBodyBytes), CloseAfterOversizedBody()]
        }
    }

    /// Adds `POST path` (and `POST path/{token}` for url-token senders) to `router`.
    public func register<Context: RequestContext>(on router: Router<Context>, path: String) {
        router.post(RouterPath(path)) { request, _ in
            await self.handle(request, pathToken: nil)
        }
        router.post(RouterPath(path + "/{token}")) { request, context in
            await self.handle(request, pathToken: context.parameters.get("token") ?? "")
        }
    }

    func handle(_ request: Request, pathToken: String?) async -> Response {
        var logger = self.logger
        let correlationID = Self.correlationID()
        logger[metadataKey: "correlation_id"] = "\(correlationID)"
        if !Self.isJSON(request.headers[.contentType]) {
            metrics?.webhook(.unsupportedMediaType)
            return JSONAnswer.error(.unsupportedMediaType, "Content-Type must be application/json")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            return tooLarge()
        }
        var request = request
        let body: [UInt8]
        do {
            var buffer = try await request.collectBody(upTo: maxBodyBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            return tooLarge()
        } catch {
            // The client went away, or stalled past the idle timeout, before its body was whole.
            metrics?.webhook(.malformed)
            logger.debug("webhook body incomplete", metadata: ["error": "\(error)"])
            return JSONAnswer.error(.badRequest, "request body incomplete")
        }
        let headers = request.headers
        let verdict = verifier.verify(
            header: { name in HTTPField.Name(name).flatMap { headers[$0] } }, pathToken: pathToken, body: body,
            now: clock.now
        )
        guard case .verified(let senderID) = verdict else {
            if case .rejected(let failure) = verdict {
                logRejection("webhook rejected: not authenticated", reason: failure.reason, level: .warning)
            }
            metrics?.webhook(.unauthorized)
            return JSONAnswer.error(.unauthorized, "invalid or missing signature")
        }
        let parsed: ParsedNotice
        do {
            parsed = try parser.parse(body)
        } catch {
            metrics?.webhook(.malformed)
            logRejection("webhook rejected: malformed payload", reason: error.reason, level: .info)
            return JSONAnswer.error(.badRequest, error.description)
        }
        let deliveryID = senderID ?? "sha256:" + Crypto.hexEncoded(Crypto.sha256(body))
        logger[metadataKey: "delivery_id"] = "\(deliveryID)"
        logger[metadataKey: "task_id"] = "\(parsed.notice.taskID)"
        let input = DeliveryInput(notice: parsed.notice, deliveryID: deliveryID, correlationID: correlationID)
        do {
            switch try await engine.accept(input) {
            case .duplicate(let seen):
                metrics?.webhook(.duplicate)
                logger.debug("duplicate delivery")
                return JSONAnswer.response(
                    .ok,
                    DuplicateDeliveryAnswer(
                        taskID: seen.task?.rawValue, decision: seen.decision, deliveryID: deliveryID))
            case .accepted(let record, let task, let attempt):
                metrics?.webhook(.accepted)
                logger.info(
                    "delivery accepted",
                    metadata: [
                        "decision": "\(record.decision.rawValue)", "rule": "\(record.rule ?? "-")",
                        "reason": "\(record.reason)",
                    ]
                )
                return JSONAnswer.response(
                    .accepted,
                    DeliveryAcceptedAnswer(record: record, task: task, attempt: attempt, correlationID: correlationID))
            }
        } catch {
            metrics?.webhook(.unavailable)
            logger.warning("delivery not acknowledged", metadata: ["reason": "\(error.reason.rawValue)"])
            return JSONAnswer.error(
                .serviceUnavailable, "\(error.description); redeliver later",
                headers: [.retryAfter: error.reason == .stopping ? "30" : "5"])
        }
    }

    /// 413; the connection is closed after it (see ``CloseAfterOversizedBody``).
    private func tooLarge() -> Response {
        metrics?.webhook(.tooLarge)
        return JSONAnswer.error(.contentTooLarge, "body exceeds \(maxBodyBytes) bytes", headers: [.connection: "close"])
    }

    /// Whether the media type (before any `;` parameters, without surrounding blanks, in any
    /// case) is `application/json` or `application/…+json`. A byte scan: every delivery asks.
    static func isJSON(_ contentType: String?) -> Bool {
        guard var contentType else { return false }
        return contentType.withUTF8 { bytes in
            func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
            var end = bytes.firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            var start = 0
            while start < end, isBlank(bytes[start]) { start += 1 }
            while end > start, isBlank(bytes[end - 1]) { end -= 1 }
            let media = UnsafeBufferPointer(rebasing: bytes[start..<end])
            func matches(_ literal: StaticString, at offset: Int) -> Bool {
                guard offset >= 0, offset + literal.utf8CodeUnitCount <= media.count else { return false }
                for index in 0..<literal.utf8CodeUnitCount {
                    var byte = media[offset + index]
                    if byte >= UInt8(ascii: "A"), byte <= UInt8(ascii: "Z") { byte += 32 }
                    if byte != literal.utf8Start[index] { return false }
                }
                return true
            }
            if media.count == 16, matches("application/json", at: 0) { return true }
            return media.count >= 17 && matches("application/", at: 0) && matches("+json", at: media.count - 5)
        }
    }

    /// A new correlation id: 64 random bits in 13 Crockford base32 digits.
    ///
    /// It follows a delivery into the journal, its episode and every log line of its retries.
    /// At 13 characters it fits inside a Swift string value (up to 15 bytes are stored inline),
    /// so the episodes that keep it allocate nothing for it.
    static func correlationID() -> String {
        var bits =
            (try? Crypto.randomBytes(count: 8)).map { $0.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
            ?? UInt64.random(in: .min ... .max)
        let digits = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
        return String(unsafeUninitializedCapacity: 13) { buffer in
            for index in (0..<13).reversed() {
                buffer[index] = digits[Int(bits & 31)]
                bits >>= 5
            }
            return 13
        }
    }
}
