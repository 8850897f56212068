import AsyncHTTPClient
import Foundation
import HDPSimulator
import Logging
import NIOCore
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// Live tests of the HDP client over loopback against the simulator.
@Suite("HTTP HDP client")
struct HTTPHDPClientTests {
    static let key = "sk-live-SECRET-4f9a2c71"
    static let start = Date(timeIntervalSince1970: 1_742_292_000)
    static let failed = TaskID("01JPJ03YJT1A93D6NF56G4GVEQ")!
    static let missingResults = TaskID("01JPJ03YJT1A93D6NF56G4GVES")!
    static let unknown = TaskID("01JPJ03YJT1A93D6NF56G4GVEZ")!
    static let tasks = [
        TaskSpec(taskID: failed.rawValue, status: "AtlanticProvingFailed", error: "prover timeout"),
        TaskSpec(
            taskID: missingResults.rawValue, status: "TaskDecommitmentFailed", error: "results are missing",
            resultsMissing: true),
    ]

    /// A scenario of the outcome table: what the simulator does and what the client must report.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var faults = SimulatorFaults.none
        var task = HTTPHDPClientTests.failed
        var apiKey: String? = HTTPHDPClientTests.key
        var timeout = Duration.seconds(5)
        var expected: HDPCallOutcome
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "200 accepted", expected: .accepted),
        Case(name: "404 not found", task: unknown, expected: .notFound),
        Case(
            name: "400 rejected with details", task: missingResults,
            expected: .rejected(
                details: "Task results are missing; decommitment of task \(missingResults.rawValue) cannot be retried")),
        Case(name: "401 wrong key", apiKey: "sk-wrong", expected: .unauthorized(httpStatus: 401)),
        Case(name: "401 no key", apiKey: nil, expected: .unauthorized(httpStatus: 401)),
        Case(
            name: "429 with Retry-After seconds",
            faults: SimulatorFaults(rateLimit: RateLimitFault(retryAfter: 7)),
            expected: .rateLimited(retryAfter: .seconds(7))),
        Case(
            name: "429 with Retry-After date",
            faults: SimulatorFaults(rateLimit: RateLimitFault(retryAfter: 90, httpDate: true)),
            expected: .rateLimited(retryAfter: .seconds(90))),
        Case(
            name: "429 without Retry-After", faults: SimulatorFaults(rateLimit: RateLimitFault()),
            expected: .rateLimited(retryAfter: nil)),
        Case(name: "503 outage", faults: SimulatorFaults(outage: true), expected: .serverError(httpStatus: 503)),
        Case(
            name: "500 random error", faults: SimulatorFaults(errorRate: 1, errorStatus: 500),
            expected: .serverError(httpStatus: 500)),
        Case(
            name: "timeout when HDP is slower than the client",
            faults: SimulatorFaults(latencyMilliseconds: 3000), timeout: .milliseconds(200), expected: .timeout),
    ]

    @Test("retry maps each answer onto its outcome", arguments: cases)
    func retryOutcomes(scenario: Case) async throws {
        try await withSimulator(faults: scenario.faults) { sim in
            let client = try makeClient(sim.baseURL, apiKey: scenario.apiKey, timeout: scenario.timeout)
            #expect(await client.retry(scenario.task) == scenario.expected)
        }
    }

    @Test("an accepted retry reached HDP with the API key and reset the task")
    func retrySendsKey() async throws {
        try await withSimulator { sim in
            let client = try makeClient(sim.baseURL)
            #expect(await client.retry(Self.failed) == .accepted)
            #expect(sim.state.calls.retry.byTask[Self.failed.rawValue] == 1)
            #expect(sim.state.calls.retry.unauthorized == 0)
            #expect(sim.state.task(Self.failed.rawValue)?.status == "Received")
        }
    }

    @Test("status reads status, errorMessage and updatedAt")
    func statusOK() async throws {
        try await withSimulator { sim in
            let outcome = try await makeClient(sim.baseURL).status(of: Self.failed)
            let expected = TaskStatusInfo(
                status: "AtlanticProvingFailed", errorMessage: "prover timeout", updatedAt: Self.start)
            #expect(outcome == .status(expected))
        }
    }

    @Test("status of an unknown task is notFound, and faults map as for retry")
    func statusFailures() async throws {
        try await withSimulator { sim in
            let client = try makeClient(sim.baseURL)
            #expect(await client.status(of: Self.unknown) == .failure(.notFound))
            try sim.state.setFaults(SimulatorFaults(outage: true))
            #expect(await client.status(of: Self.failed) == .failure(.serverError(httpStatus: 503)))
        }
    }

    @Test("a closed port is a network error that says the connection was refused")
    func connectionRefused() async throws {
        let port = try await HDPSimulator.withRunning { $0.port }
        // A refused connection fails at once; the generous timeout only keeps a busy machine from
        // turning it into a timeout.
        let client = try makeClient("http://127.0.0.1:\(port)", timeout: .seconds(10))
        #expect(await client.retry(Self.failed) == .networkError("connection refused"))
    }

    @Test(
        "base URLs with a trailing slash reach the same endpoints",
        arguments: ["", "/", "//"])
    func trailingSlash(suffix: String) async throws {
        try await withSimulator { sim in
            let client = try makeClient(sim.baseURL + suffix)
            #expect(client.baseURL == sim.baseURL)
            #expect(await client.retry(Self.failed) == .accepted)
        }
    }

    @Test("a Foundation URL works as the base URL")
    func foundationURL() async throws {
        try await withSimulator { sim in
            let url = try #require(URL(string: sim.baseURL + "/"))
            let client = try HTTPHDPClient(
                baseURL: url, apiKey: Self.key, timeout: .seconds(5), httpClient: .shared, logger: Logger(label: "t"))
            #expect(await client.retry(Self.failed) == .accepted)
        }
    }

    @Test("a path prefix in the base URL is kept in front of /tasks")
    func pathPrefix() async throws {
        try await withSimulator { sim in
            let client = try makeClient(sim.baseURL + "/hdp/v1/")
            #expect(client.baseURL == sim.baseURL + "/hdp/v1")
            // The simulator serves no prefix, so the call must miss its task routes entirely.
            #expect(await client.retry(Self.failed) == .notFound)
            #expect(sim.state.calls.retry.total == 0)
        }
    }

    @Test(
        "unusable configuration is refused with a stable reason",
        arguments: [
            ("ftp://hdp.example", "k", "invalid_base_url"),
            ("not a url", "k", "invalid_base_url"),
            ("http://", "k", "invalid_base_url"),
            ("https://hdp.example/?x=1", "k", "invalid_base_url"),
            ("https://user:pw@hdp.example", "k", "credentials_in_base_url"),
            ("https://hdp.example", "bad key\n", "invalid_api_key"),
            ("https://hdp.example", "", "invalid_api_key"),
        ])
    func invalidConfiguration(url: String, key: String, reason: String) {
        #expect {
            _ = try HTTPHDPClient(
                baseURL: url, apiKey: key, timeout: .seconds(1), httpClient: .shared, logger: Logger(label: "t"))
        } throws: { error in
            (error as? HTTPHDPClientError)?.reason == reason && !"\(error)".contains("pw")
        }
    }

    @Test("400 details are cut to 512 bytes on a character boundary, and fall back to error")
    func detailsTruncation() {
        let long = String(repeating: "é", count: 400)  // 800 bytes
        let body = Array(#"{"error":"x","details":"\#(long)"}"#.utf8)
        let details = HTTPHDPClient.details(from: body)
        #expect(details.utf8.count == 512)
        #expect(details == String(repeating: "é", count: 256))
        #expect(
            HTTPHDPClient.details(from: Array(#"{"error":"Cannot retry decommitment"}"#.utf8))
                == "Cannot retry decommitment")
        #expect(HTTPHDPClient.details(from: Array("<html>".utf8)) == "")
    }

    @Test(
        "updatedAt is read with or without fractional seconds, and tolerated when absent",
        arguments: [
            (#"{"status":"Received","errorMessage":null,"updatedAt":"2025-03-18T10:00:00Z"}"#, true),
            (#"{"status":"Received","errorMessage":null,"updatedAt":"2025-03-18T10:00:00.000Z"}"#, true),
            (#"{"status":"Received"}"#, false),
            (#"{"status":"Received","updatedAt":"yesterday"}"#, false),
        ])
    func statusBody(json: String, hasDate: Bool) throws {
        let info = try #require(StatusBody.parse(Array(json.utf8)))
        #expect(info.status == "Received")
        #expect(info.errorMessage == nil)
        #expect(info.updatedAt == (hasDate ? Self.start : nil))
    }

    @Test("the API key never appears in an outcome, a description or a log line")
    func keyNeverLeaks() async throws {
        let store = LogStore()
        var logger = Logger(label: "hdp-client-test") { _ in CapturingLogHandler(store: store) }
        logger.logLevel = .trace
        var texts: [String] = []
        for scenario in Self.cases {
            try await withSimulator(faults: scenario.faults) { sim in
                let client = try makeClient(
                    sim.baseURL, apiKey: Self.key, timeout: scenario.timeout, logger: logger)
                let outcome = await client.retry(scenario.task)
                let status = await client.status(of: scenario.task)
                texts += [
                    "\(outcome)", String(reflecting: outcome), "\(status)", "\(client)", String(reflecting: client),
                ]
                var dumped = ""
                dump(client, to: &dumped)
                texts.append(dumped)
            }
        }
        let refused = try await HDPSimulator.withRunning { $0.port }
        let client = try makeClient(
            "http://127.0.0.1:\(refused)", apiKey: Self.key, timeout: .seconds(1), logger: logger)
        texts.append("\(await client.retry(Self.failed))")
        #expect(store.lines.contains { $0.contains("HDP call") })
        for text in texts + store.lines {
            #expect(!text.contains(Self.key))
        }
    }

    // MARK: - Helpers

    private func withSimulator(
        faults: SimulatorFaults = .none, _ body: (RunningSimulator) async throws -> Void
    ) async throws {
        let configuration = SimulatorConfiguration(
            apiKey: Self.key, tasks: Self.tasks, faults: faults, clock: { Self.start })
        var logger = Logger(label: "hdp-sim-test")
        logger.logLevel = .critical
        try await HDPSimulator.withRunning(configuration: configuration, logger: logger, body)
    }

    private func makeClient(
        _ baseURL: String, apiKey: String? = HTTPHDPClientTests.key, timeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "hdp-client-test")
    ) throws -> HTTPHDPClient {
        try HTTPHDPClient(
            baseURL: baseURL, apiKey: apiKey, timeout: timeout, httpClient: .shared, logger: logger,
            now: { Self.start })
    }
}

/// Log lines rendered with their metadata, collected for inspection.
final class LogStore: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}

/// A `LogHandler` that renders every event, metadata included, into a ``LogStore``.
struct CapturingLogHandler: LogHandler {
    let store: LogStore
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        store.append("\(event.level) \(event.message) \(merged)")
    }
}

/// Which transport failures leave the request certainly unsent, and which may have reached HDP.
@Suite struct OutcomeClassificationTests {
    @Test(arguments: [
        (HTTPClientError.connectTimeout as any Error, false), (HTTPClientError.deadlineExceeded, true),
        (HTTPClientError.readTimeout, true), (HTTPClientError.remoteConnectionClosed, true),
        (IOError(errnoCode: ECONNREFUSED, reason: "connect"), false),
        (IOError(errnoCode: ECONNRESET, reason: "read"), true),
        (IOError(errnoCode: EPIPE, reason: "write"), true),
        (IOError(errnoCode: EHOSTUNREACH, reason: "connect"), false),
    ])
    func unknownOrNot(error: any Error, unknown: Bool) {
        let outcome = HTTPHDPClient.classify(error)
        #expect(outcome.outcomeUnknown == unknown, "\(error) → \(outcome)")
        #expect(outcome.isBreakerFailure)
    }
}
