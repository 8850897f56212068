import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import RetryCore

/// The agent's HDP client: `POST /tasks/{id}/retry` and `GET /tasks/{id}/status` over
/// AsyncHTTPClient, each answer mapped onto ``HDPCallOutcome`` so that the dispatcher never sees
/// an HTTP detail.
///
/// Every call is bounded by `timeout` as a whole (connection, head and body), because a stalled
/// HDP must not hold a dispatch slot. The `HTTPClient` is injected and owned by the caller, so one
/// connection pool serves the whole process. The API key is never logged, never put into an
/// outcome, an error or a description.
public struct HTTPHDPClient: HDPClient, CustomStringConvertible, CustomReflectable {
    /// Largest response body read; HDP's answers are a few hundred bytes.
    public static let maxBodyBytes = 64 * 1024
    /// Largest `details` kept from a 400, so a journal record stays small.
    public static let maxDetailsBytes = 512
    /// How long after `timeout` the whole-exchange timer fires (see `exchange`).
    static let timeoutGrace = Duration.milliseconds(100)

    /// The base URL without trailing slashes (`https://host[:port][/prefix]`).
    public let baseURL: String
    /// How long one call may take in total.
    public let timeout: Duration
    let apiKey: RedactedSecret?
    private let httpClient: HTTPClient
    let logger: Logger
    private let now: @Sendable () -> Date

    /// Creates a client for the HDP API at `baseURL`.
    ///
    /// - Parameters:
    ///   - baseURL: `http(s)://host[:port][/prefix]`, with or without a trailing slash; no
    ///     credentials, query or fragment.
    ///   - apiKey: the `X-API-KEY` for retries; `nil` sends none (HDP then answers 401).
    ///   - timeout: the bound on each call as a whole.
    ///   - httpClient: the shared client; the caller shuts it down.
    ///   - logger: receives one `debug` line per call (never the key).
    ///   - now: the clock `Retry-After` dates are measured against.
    /// - Throws: ``HTTPHDPClientError`` when the URL or the key cannot be used.
    public init(
        baseURL: String, apiKey: String?, timeout: Duration, httpClient: HTTPClient, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(HTTPHDPClientError) {
        self.baseURL = try Self.validatedBase(baseURL)
        if let apiKey {
            guard !apiKey.isEmpty, apiKey.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw HTTPHDPClientError.invalidAPIKey
            }
            self.apiKey = RedactedSecret(value: apiKey)
        } else {
            self.apiKey = nil
        }
        guard timeout > .zero else { throw HTTPHDPClientError.invalidTimeout }
        self.timeout = timeout
        self.httpClient = httpClient
        self.logger = logger
        self.now = now
    }

    /// Creates a client for the HDP API at `baseURL` (see the `String` initialiser).
    public init(
        baseURL: URL, apiKey: String?, timeout: Duration, httpClient: HTTPClient, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(HTTPHDPClientError) {
        try self.init(
            baseURL: baseURL.absoluteString, apiKey: apiKey, timeout: timeout, httpClient: httpClient, logger: logger,
            now: now)
    }

    /// The base URL and timeout, and whether a key is set — never the key.
    public var description: String {
        "HTTPHDPClient(baseURL: \(baseURL), timeout: \(timeout), apiKey: \(apiKey == nil ? "none" : "<redacted>"))"
    }

    /// Only the harmless fields: a reflection of the shared `HTTPClient` would walk into its
    /// connection pool, where queued requests still hold their headers, the key among them.
    public var customMirror: Mirror {
        Mirror(
            self, children: ["baseURL": baseURL, "timeout": timeout, "apiKey": apiKey as Any], displayStyle: .struct)
    }

    /// `POST {base}/tasks/{id}/retry` with `X-API-KEY`. Any 2xx counts as accepted: treating a
    /// success HDP did not document as a failure would retry again, and a duplicate retry costs a
    /// prover run.
    public func retry(_ task: TaskID) async -> HDPCallOutcome {
        var request = HTTPClientRequest(url: "\(baseURL)/tasks/\(task.rawValue)/retry")
        request.method = .POST
        request.headers.add(name: "Content-Length", value: "0")
        if let apiKey { request.headers.add(name: "X-API-KEY", value: apiKey.value) }
        let outcome: HDPCallOutcome
        switch await exchange(request) {
        case .failure(let failure):
            outcome = failure
        case .response(let status, let headers, let body):
            outcome =
                (200..<300).contains(status) ? .accepted : mapFailure(status: status, headers: headers, body: body)
        }
        log(endpoint: "retry", task: task, outcome: outcome)
        return outcome
    }

    /// `GET {base}/tasks/{id}/status` (no key). A 200 whose body has no readable `status` is
    /// HDP misbehaving and is reported as a server error, so the dispatcher tries again later.
    public func status(of task: TaskID) async -> HDPStatusOutcome {
        var request = HTTPClientRequest(url: "\(baseURL)/tasks/\(task.rawValue)/status")
        request.method = .GET
        let result: HDPStatusOutcome
        switch await exchange(request) {
        case .failure(let failure):
            result = .failure(failure)
        case .response(200, _, let body):
            if let info = StatusBody.parse(body) {
                result = .status(info)
            } else {
                logger.warning(
                    "HDP status answer unreadable", metadata: ["task_id": .string(task.rawValue), "http_status": "200"])
                result = .failure(.serverError(httpStatus: 200))
            }
        case .response(let status, let headers, let body):
            result = .failure(mapFailure(status: status, headers: headers, body: body))
        }
        switch result {
        case .status(let info):
            logger.debug(
                "HDP call",
                metadata: [
                    "hdp_endpoint": "status", "task_id": .string(task.rawValue), "hdp_result": "status",
                    "hdp_task_status": .string(info.status),
                ])
        case .failure(let outcome):
            log(endpoint: "status", task: task, outcome: outcome)
        }
        return result
    }

    /// The outcome of a non-success answer, the same for both endpoints.
    func mapFailure(status: Int, headers: HTTPHeaders, body: [UInt8]) -> HDPCallOutcome {
        switch status {
        case 404: return .notFound
        case 400: return .rejected(details: Self.details(from: body))
        case 401, 403: return .unauthorized(httpStatus: status)
        case 429:
            let retryAfter = headers.first(name: "Retry-After").flatMap { RetryAfter.parse($0, now: now()) }
            return .rateLimited(retryAfter: retryAfter)
        default: return .serverError(httpStatus: status)
        }
    }

    private func log(endpoint: String, task: TaskID, outcome: HDPCallOutcome) {
        var metadata: Logger.Metadata = [
            "hdp_endpoint": .string(endpoint), "task_id": .string(task.rawValue),
            "hdp_result": .string(outcome.result.rawValue),
        ]
        switch outcome {
        case .unauthorized(let status), .serverError(let status): metadata["http_status"] = .stringConvertible(status)
        case .networkError(let reason), .connectionLost(let reason): metadata["hdp_error"] = .string(reason)
        case .rateLimited(let retryAfter): metadata["retry_after"] = .string(retryAfter.map { "\($0)" } ?? "none")
        default: break
        }
        logger.debug("HDP call", metadata: metadata)
    }

    /// `details` from a 400 body, else `error`, else empty; at most ``maxDetailsBytes`` bytes of
    /// UTF-8, cut on a character boundary.
    static func details(from body: [UInt8]) -> String {
        guard let object = try? JSONParser.parse(body) else { return "" }
        let text = object["details"]?.stringValue ?? object["error"]?.stringValue ?? ""
        guard text.utf8.count > maxDetailsBytes else { return text }
        var cut = ""
        for character in text {
            if cut.utf8.count + character.utf8.count > maxDetailsBytes { break }
            cut.append(character)
        }
        return cut
    }

    private static func validatedBase(_ text: String) throws(HTTPHDPClientError) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { throw HTTPHDPClientError.invalidBaseURL }
        guard components.user == nil, components.password == nil else {
            throw HTTPHDPClientError.credentialsInBaseURL
        }
        guard components.query == nil, components.fragment == nil else { throw HTTPHDPClientError.invalidBaseURL }
        var base = Substring(text)
        while base.hasSuffix("/") { base = base.dropLast() }
        return String(base)
    }
}

/// One HTTP exchange with HDP: either an answer (status, headers, capped body) or the outcome
/// that ended it early (timeout, network error).
enum HDPExchange: Sendable {
    /// HDP answered; `body` holds at most ``HTTPHDPClient/maxBodyBytes``.
    case response(status: Int, headers: HTTPHeaders, body: [UInt8])
    /// No answer: the outcome says why.
    case failure(HDPCallOutcome)
}

/// Transport: the bounded exchange and the mapping of transport errors.
extension HTTPHDPClient {
    /// Runs `request` within ``timeout``, measured from now over the whole exchange, keeping at
    /// most `maxBodyBytes` of the answer's body.
    ///
    /// AsyncHTTPClient's deadline ends at the response head, so the exchange is also raced against
    /// a timer that fires a little later (``timeoutGrace``): until the head, AsyncHTTPClient's own
    /// failure wins and says more (a refused connection is reported as refused, not as a timeout);
    /// after it, the timer bounds a body that never ends.
    func exchange(_ request: HTTPClientRequest, maxBodyBytes: Int = Self.maxBodyBytes) async -> HDPExchange {
        let deadline = ContinuousClock.now + timeout + Self.timeoutGrace
        let components = timeout.components
        let nanoseconds = components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
        let ahcDeadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        return await withTaskGroup(of: HDPExchange?.self) { group in
            group.addTask {
                await perform(request, deadline: ahcDeadline, maxBodyBytes: maxBodyBytes)
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(.timeout)
        }
    }

    private func perform(
        _ request: HTTPClientRequest, deadline: NIODeadline, maxBodyBytes: Int
    ) async -> HDPExchange {
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, deadline: deadline, logger: logger)
        } catch {
            return .failure(Self.classify(error))
        }
        var body: [UInt8] = []
        do {
            for try await chunk in response.body {
                let room = maxBodyBytes - body.count
                body.append(contentsOf: chunk.readableBytesView.prefix(room))
                if body.count >= maxBodyBytes { break }
            }
        } catch {
            // The status line arrived, and it is what decides the outcome; a body cut short
            // only loses details.
        }
        return .response(status: Int(response.status.code), headers: response.headers, body: body)
    }

    /// Maps a transport error onto an outcome with a short, fixed description, telling apart
    /// failures that leave the request certainly unsent (no connection: refused, DNS, TLS, a
    /// connect timeout) from those after which HDP may have received it (a timeout once
    /// connected, a connection reset or closed, an unreadable answer): a retry with such an
    /// outcome is treated as interrupted. When in doubt, unknown. Errors are never described with
    /// their own `description`: some carry header values.
    static func classify(_ error: any Error) -> HDPCallOutcome {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout, .socksHandshakeTimeout,
                .httpProxyHandshakeTimeout:
                return .connectTimeout
            case .deadlineExceeded, .readTimeout, .writeTimeout: return .timeout
            case .remoteConnectionClosed: return .connectionLost("connection closed by peer")
            case .alreadyShutdown: return .networkError("HTTP client already shut down")
            case .cancelled: return .connectionLost("request cancelled")
            default: return .connectionLost("HTTP protocol error")
            }
        }
        if let error = error as? IOError { return outcome(errno: error.errnoCode) }
        if let error = error as? NIOConnectionError {
            if let failure = error.connectionErrors.first {
                if let ioError = failure.error as? IOError { return .networkError(describe(errno: ioError.errnoCode)) }
                return .networkError("connection failed")
            }
            return .networkError("DNS resolution failed")
        }
        let typeName = String(reflecting: type(of: error))
        if typeName.contains("SSL") || typeName.contains("TLS") { return .networkError("TLS failure") }
        if error is CancellationError { return .connectionLost("request cancelled") }
        return .connectionLost("connection failed (\(typeName.split(separator: ".").last ?? "error"))")
    }

    /// A socket error: refused or unreachable before anything was sent; anything else may have
    /// come after the request went out.
    private static func outcome(errno code: Int32) -> HDPCallOutcome {
        switch code {
        case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH: .networkError(describe(errno: code))
        default: .connectionLost(describe(errno: code))
        }
    }

    private static func describe(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connection refused"
        case ECONNRESET, EPIPE: "connection reset"
        case ETIMEDOUT: "connection timed out"
        case EHOSTUNREACH, ENETUNREACH: "host unreachable"
        default: "connection failed (errno \(code))"
        }
    }
}

/// The body of `GET /tasks/{id}/status`: `{"taskId","status","errorMessage","updatedAt"}`.
enum StatusBody {
    /// The task's status, or `nil` when the body has no string `status`. `errorMessage` that is
    /// not a string and an `updatedAt` that is absent or unreadable are tolerated as `nil`.
    static func parse(_ body: [UInt8]) -> TaskStatusInfo? {
        guard let object = try? JSONParser.parse(body), let status = object["status"]?.stringValue, !status.isEmpty
        else { return nil }
        return TaskStatusInfo(
            status: status,
            errorMessage: object["errorMessage"]?.stringValue,
            updatedAt: object["updatedAt"]?.stringValue.flatMap(ISO8601.parse)
        )
    }

}

/// Why an ``HTTPHDPClient`` could not be created. Never carries the URL or the key: either may
/// hold a secret.
public struct HTTPHDPClientError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: String, Sendable, Hashable {
        case invalidBaseURL = "invalid_base_url"
        case credentialsInBaseURL = "credentials_in_base_url"
        case invalidAPIKey = "invalid_api_key"
        case invalidTimeout = "invalid_timeout"
    }

    private let base: Base

    /// A stable identifier of the problem.
    public var reason: String { base.rawValue }

    /// What is wrong, in words for the operator.
    public var description: String {
        switch base {
        case .invalidBaseURL: "the HDP base URL must be http(s)://host[:port][/path] without query or fragment"
        case .credentialsInBaseURL: "the HDP base URL must not contain credentials; use HDP_API_KEY"
        case .invalidAPIKey: "the HDP API key must be non-empty visible ASCII (no spaces or line breaks)"
        case .invalidTimeout: "the HDP timeout must be positive"
        }
    }

    /// The base URL is not `http(s)://host…`, or has a query or fragment.
    public static let invalidBaseURL = Self(base: .invalidBaseURL)
    /// The base URL carries `user:password@`.
    public static let credentialsInBaseURL = Self(base: .credentialsInBaseURL)
    /// The API key cannot be sent as a header value.
    public static let invalidAPIKey = Self(base: .invalidAPIKey)
    /// The timeout is zero or negative.
    public static let invalidTimeout = Self(base: .invalidTimeout)
}
