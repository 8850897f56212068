import AsyncHTTPClient
import Foundation
import HDPSimulator
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// Secrets never leave the agent: not in a log line (at trace level), the metrics, an HTTP
/// answer or the journal, through a whole run against the HDP simulator.
@Suite("Secrets stay secret")
struct SecretsTests {
    static let apiKey = "sk-live-SECRET-7d1e0b93aa"
    static let adminToken = "adm-TOKEN-5c2f88e1"
    static let task = TaskID("01JPJ03YJT1A93D6NF56G4GVEQ")!

    /// Every spelling of a secret that would give it away.
    static var forbidden: [String] {
        let encoded = String(EngineHarness.secret.dropFirst("whsec_".count))
        let key = SignatureKeys.standardWebhooksKey(EngineHarness.secret) ?? []
        return [
            EngineHarness.secret, encoded, encoded.replacingOccurrences(of: "=", with: ""),
            Crypto.hexEncoded(key), Crypto.hexEncoded(key).uppercased(), Data(key).base64EncodedString(),
            apiKey, adminToken,
        ]
    }

    @Test("a delivery, a forgery, a retry with the API key, a reload and a scrape leak no secret")
    func nothingLeaks() async throws {
        let store = LogStore()
        var logger = Logger(label: "secrets-test") { _ in CapturingLogHandler(store: store) }
        logger.logLevel = .trace
        var simLogger = Logger(label: "hdp-sim-test")
        simLogger.logLevel = .critical
        let simulator = SimulatorConfiguration(
            apiKey: Self.apiKey,
            tasks: [TaskSpec(taskID: Self.task.rawValue, status: "AtlanticProvingFailed", error: "prover timeout")])
        var texts: [String] = []

        try await HDPSimulator.withRunning(configuration: simulator, logger: simLogger) { sim in
            let client = try HTTPHDPClient(
                baseURL: sim.baseURL, apiKey: Self.apiKey, timeout: .seconds(5), httpClient: .shared, logger: logger)
            texts += ["\(client)", String(reflecting: client)]
            texts += try await withEngine(logger: logger) { harness in
                let rulesPath = harness.directory + "/rules.yaml"
                try RuleSet.builtInYAML.write(toFile: rulesPath, atomically: true, encoding: .utf8)
                let store = RuleStore(RuleSet.builtIn)
                let reloader = RulesReloader(
                    source: .configured(rulesPath), store: store, watch: false, logger: logger)
                let router = try harness.router()
                AdminRoutes(
                    engine: { [engine = harness.engine] in engine }, metrics: harness.metrics, readiness: Readiness(),
                    reload: { await reloader.reload() }, token: Self.adminToken
                ).register(on: router)
                let dispatcher = Dispatcher(
                    engine: harness.engine, client: client, clock: harness.clock, metrics: harness.metrics)
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await dispatcher.run() }
                    defer { group.cancelAll() }
                    return try await Application(router: router).test(.router) { http async throws in
                        try await Self.run(http: http, harness: harness, sim: sim)
                    }
                }
            }
        }

        // The checks must have something to look at.
        #expect(store.lines.contains { $0.contains("delivery accepted") })
        #expect(store.lines.contains { $0.contains("webhook rejected") })
        #expect(store.lines.contains { $0.contains("retry call finished") })
        #expect(texts.contains { $0.contains("hdp_retry_calls_total") })
        for secret in Self.forbidden {
            for text in texts + store.lines {
                #expect(!text.contains(secret), "'\(secret.prefix(6))…' leaked in: \(text.prefix(200))")
            }
        }
    }

    /// Drives the flow; returns every response body, the metrics text and the journal.
    static func run(
        http: some TestClientProtocol, harness: EngineHarness, sim: RunningSimulator
    ) async throws
        -> [String]
    {
        var texts: [String] = []
        let body = noticeBody(task: task.rawValue)
        let accepted = try await http.execute(
            uri: EngineHarness.path, method: .post,
            headers: try signedHeaders(body, id: "msg_s1", now: harness.clock.now),
            body: ByteBuffer(string: body))
        #expect(accepted.status == .accepted)
        let forged = try await http.execute(
            uri: EngineHarness.path, method: .post,
            headers: try signedHeaders(
                body, id: "msg_s2", now: harness.clock.now,
                settings: SignatureSettings(secrets: [EngineHarness.wrongSecret])),
            body: ByteBuffer(string: body))
        #expect(forged.status == .unauthorized)
        texts += [String(buffer: accepted.body), String(buffer: forged.body)]

        // The retry reaches the simulator with the key (it answers 401 without it).
        harness.clock.advance(by: 11)
        #expect(
            await harness.eventually {
                await harness.store.ledgerSnapshot.tasks[task]?.state == .ended(.retried)
            })
        #expect(sim.state.calls.retry.byTask[task.rawValue] == 1)
        #expect(sim.state.calls.retry.unauthorized == 0)

        let bearer: HTTPFields = [.authorization: "Bearer \(adminToken)"]
        let refusedReload = try await http.execute(uri: "/-/reload", method: .post)
        #expect(refusedReload.status == .unauthorized)
        let reload = try await http.execute(uri: "/-/reload", method: .post, headers: bearer)
        #expect(reload.status == .ok)
        let view = try await http.execute(uri: "/tasks/\(task.rawValue)", method: .get, headers: bearer)
        #expect(view.status == .ok)
        let scrape = try await http.execute(uri: "/metrics", method: .get)
        #expect(scrape.status == .ok)
        texts += [refusedReload, reload, view, scrape].map { String(buffer: $0.body) }
        texts.append(try String(contentsOfFile: harness.journalPath, encoding: .utf8))
        #expect(texts.last?.contains("msg_s1") == true)
        return texts
    }

    @Test("configuration errors about secret files name the file, not its content")
    func secretFileErrors() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyFile = directory + "/api-key"
        try "\(Self.apiKey)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        var configuration = AgentConfiguration()
        configuration.hdp.apiKeyFile = keyFile
        #expect(try Secrets.hdpAPIKey(configuration: configuration, environment: [:]) == Self.apiKey)
        #expect(
            try Secrets.hdpAPIKey(configuration: configuration, environment: ["HDP_API_KEY": "from-env"]) == "from-env")
        configuration.hdp.apiKeyFile = directory + "/missing"
        #expect {
            _ = try Secrets.hdpAPIKey(configuration: configuration, environment: [:])
        } throws: { error in
            "\(error)".contains("hdp.api_key_file") && !"\(error)".contains(Self.apiKey)
        }
        // A settings value printed in a failing test or a log shows no secret.
        let settings = SignatureSettings(secrets: [EngineHarness.secret])
        var dumped = ""
        dump(settings, to: &dumped)
        for text in ["\(settings)", String(reflecting: settings), dumped, "\(try WebhookVerifier(settings: settings))"]
        {
            for secret in Self.forbidden { #expect(!text.contains(secret)) }
        }
    }
}
