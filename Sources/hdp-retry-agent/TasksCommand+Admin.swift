import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import RetryAgent
import RetryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Talking to the admin listener

/// Where the admin listener is and which token it wants.
struct AdminConnection: ParsableArguments {
    @Option(help: "Admin listener URL (default: http://<admin_listen>, http://127.0.0.1:9464).") var admin: String?
    @Option(
        name: .customLong("token-file"),
        help: "File whose first line is the admin token (default: $HDP_RETRY_ADMIN_TOKEN, or admin.token_file).")
    var tokenFile: String?
    @Option(help: "YAML configuration file (for admin_listen and admin.token_file).") var config: String?

    /// The URL and token to use, found in the order the command's help gives.
    func resolve() throws -> AdminClient {
        let environment = ProcessInfo.processInfo.environment
        var configuration: AgentConfiguration?
        if config != nil || admin == nil {
            do {
                configuration = try AgentConfiguration.load(file: config, environment: environment, flags: .init())
            } catch {
                throw TasksFailure.configuration("configuration error:\n\(error.description)")
            }
        }
        let base = admin.map(Self.normalised) ?? Self.url(listening: configuration?.adminListen ?? "127.0.0.1:9464")
        var token: (value: String, source: String)?
        if let tokenFile {
            token = (try Self.firstLine(of: tokenFile, what: "--token-file"), "--token-file \(tokenFile)")
        } else if let value = environment["HDP_RETRY_ADMIN_TOKEN"], !value.isEmpty {
            token = (value, "HDP_RETRY_ADMIN_TOKEN")
        } else if config != nil, let path = configuration?.admin.tokenFile {
            token = (try Self.firstLine(of: path, what: "admin.token_file"), "admin.token_file \(path)")
        }
        return AdminClient(base: base, token: token?.value, tokenSource: token?.source)
    }

    /// `http://` in front of a bare `HOST:PORT`, and no trailing slash.
    static func normalised(_ text: String) -> String {
        var url = text.contains("://") ? text : "http://" + text
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// The URL that reaches a listener bound to `listen`: a wildcard address is reached on loopback.
    static func url(listening listen: String) -> String {
        guard let address = HostPort(listen) else { return normalised(listen) }
        var host = address.host
        if host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" }
        if host == "::" { host = "::1" }
        return "http://" + (host.contains(":") ? "[\(host)]:\(address.port)" : "\(host):\(address.port)")
    }

    /// The first non-empty line of a token file, trimmed (the way the agent reads it).
    static func firstLine(of path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file"
            throw TasksFailure.configuration("cannot read \(what) \(path): \(reason)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let line = lines.first(where: { !$0.isEmpty }) else {
            throw TasksFailure.configuration("\(what) \(path) is empty")
        }
        return line
    }
}

/// One admin listener: GET with the bearer token, answers turned into ``TasksFailure``s.
struct AdminClient {
    let base: String
    let token: String?
    /// Where the token came from, for the message when the agent refuses it.
    let tokenSource: String?

    func url(_ path: String) -> String { base + path }

    /// The body of a 200 answer to `GET path`; any other answer, or none, throws.
    func get(_ path: String, what: String) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url(path))
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        // Its own client, so that a refused connection is reported at once: the shared client
        // keeps retrying to connect until the deadline.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let answer: Result<(status: Int, body: [UInt8]), any Error>
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 64 << 20)
            answer = .success((Int(response.status.code), Array(body.readableBytesView)))
        } catch {
            answer = .failure(error)
        }
        try? await client.shutdown()
        let status: Int
        let body: [UInt8]
        switch answer {
        case .success(let received): (status, body) = received
        case .failure(let error): throw TasksFailure.unreachable(base: base, error: error)
        }
        guard status == 200 else {
            throw TasksFailure.answered(status: status, body: body, what: what, client: self)
        }
        return body
    }
}

/// Why `tasks` could not print what was asked, with the exit code that says so.
struct TasksFailure: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32

    static func configuration(_ message: String) -> TasksFailure {
        TasksFailure(description: message, exitCode: 2)
    }

    static func unreachable(base: String, error: any Error) -> TasksFailure {
        TasksFailure(
            description: """
                cannot reach the agent's admin listener at \(base): \(Self.reason(error))
                Is the agent running, and is this its admin_listen? (--admin URL, or --config FILE)
                """,
            exitCode: 3)
    }

    static func unreadable(url: String, error: any Error) -> TasksFailure {
        TasksFailure(
            description: "\(url) answered 200 with a body this command cannot read (\(error)); is it the agent?",
            exitCode: 1)
    }

    static func answered(status: Int, body: [UInt8], what: String, client: AdminClient) -> TasksFailure {
        let said: String
        if case .string(let message)? = (try? JSONValue.parse(body))?[path: "error"] {
            said = message
        } else {
            said = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let message: String
        switch status {
        case 401:
            if let source = client.tokenSource {
                message =
                    "the agent refused the admin token from \(source) (401): it is not the agent's admin.token_file"
            } else {
                message =
                    "the agent wants an admin token (401): give --token-file FILE, set HDP_RETRY_ADMIN_TOKEN, "
                    + "or --config FILE with admin.token_file"
            }
        case 404 where what.hasPrefix("task "):
            message = "\(what) is not in the agent's journal (404)"
        case 404:
            message = "\(client.base) has no \(what) (404): is it the admin listener (admin_listen, default port 9464)?"
        case 503:
            message = "the agent is not ready yet (503: \(said)): try again in a moment"
        default:
            message = "the agent answered \(status) for \(what): \(said)"
        }
        return TasksFailure(description: message, exitCode: 1)
    }

    /// A transport error in a few words (connection refused, timed out) rather than a type dump.
    private static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") || text.contains("deadlineExceeded") || text.contains("readTimeout") {
            return "timed out"
        }
        if text.lowercased().contains("connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        return text
    }
}

// MARK: - The agent's answers

/// `GET /tasks`.
struct TaskListing: Decodable {
    var state: String
    var count: Int
    var tasks: [TaskSummary]
}

/// One task of `GET /tasks`, or `GET /tasks/{id}` without its history.
struct TaskSummary: Decodable {
    /// The task's open episode.
    struct Episode: Decodable {
        var rule: String
        var maxAttempts: Int
        var due: String
        var status: String
        var error: String?
        var tries: Int
        var inFlightAttempt: Int?
        var correlationID: String

        enum CodingKeys: String, CodingKey {
            case rule, due, status, error, tries
            case maxAttempts = "max_attempts"
            case inFlightAttempt = "in_flight_attempt"
            case correlationID = "correlation_id"
        }
    }

    var taskID: String
    var state: String
    var attempts: Int
    var lastAcceptedAt: String?
    var updatedAt: String
    var episode: Episode?

    enum CodingKeys: String, CodingKey {
        case state, attempts, episode
        case taskID = "task_id"
        case lastAcceptedAt = "last_accepted_at"
        case updatedAt = "updated_at"
    }
}
