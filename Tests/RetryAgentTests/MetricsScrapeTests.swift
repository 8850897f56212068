import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// The metrics an operator scrapes, after a scripted run of the real webhook handler, engine and
/// dispatcher against a scripted HDP (SPEC §3 "Metrics that must exist").
@Suite("Metrics scrape")
struct MetricsScrapeTests {
    /// Every sample of an exposition, by series (`name{labels}`), and the `# HELP` / `# TYPE` lines.
    struct Exposition {
        var samples: [String: Double] = [:]
        var help: Set<String> = []
        var types: [String: String] = [:]
        var lines: [String] = []

        init(_ bytes: [UInt8]) {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init) {
                lines.append(line)
                let words = line.split(separator: " ", maxSplits: 3).map(String.init)
                if line.hasPrefix("# HELP "), words.count >= 3 {
                    help.insert(words[2])
                } else if line.hasPrefix("# TYPE "), words.count == 4 {
                    types[words[2]] = words[3]
                } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
                    let value = Double(line[line.index(after: space)...])
                {
                    samples[String(line[..<space])] = value
                }
            }
        }
    }

    static let taskA = TaskID("01JPJ03YJT1A93D6NF56G4GVA0")!
    static let taskB = TaskID("01JPJ03YJT1A93D6NF56G4GVB0")!
    static let taskC = TaskID("01JPJ03YJT1A93D6NF56G4GVC0")!

    /// The SPEC's metric names, with their Prometheus type.
    static let specified: [(String, String)] = [
        ("hdp_retry_webhooks_total", "counter"), ("hdp_retry_decisions_total", "counter"),
        ("hdp_retry_calls_total", "counter"), ("hdp_retry_status_checks_total", "counter"),
        ("hdp_retry_call_duration_seconds", "histogram"), ("hdp_retry_episodes_total", "counter"),
        ("hdp_retry_pending_retries", "gauge"), ("hdp_retry_in_flight", "gauge"),
        ("hdp_retry_oldest_pending_seconds", "gauge"), ("hdp_retry_circuit_state", "gauge"),
        ("hdp_retry_circuit_transitions_total", "counter"), ("hdp_retry_journal_records_total", "counter"),
        ("hdp_retry_journal_bytes", "gauge"), ("hdp_retry_journal_fsync_seconds", "histogram"),
        ("hdp_retry_journal_compactions_total", "counter"), ("hdp_retry_journal_truncated_bytes_total", "counter"),
        ("hdp_retry_rules_reloads_total", "counter"), ("hdp_retry_rules_last_reload_successful", "gauge"),
        ("hdp_retry_rules_loaded", "gauge"), ("hdp_retry_build_info", "gauge"),
        ("process_resident_memory_bytes", "gauge"), ("process_cpu_seconds_total", "counter"),
        ("process_open_fds", "gauge"), ("process_start_time_seconds", "gauge"),
    ]

    /// Labelled series the SPEC lists, each of which must exist at 0 before anything happened.
    static let zeroAtStart: [String] =
        ["accepted", "duplicate", "unauthorized", "malformed", "too_large", "unsupported_media_type", "unavailable"]
        .map { #"hdp_retry_webhooks_total{outcome="\#($0)"}"# }
        + [
            "accepted", "not_found", "rejected", "unauthorized", "rate_limited", "server_error", "timeout",
            "network_error",
        ].map { #"hdp_retry_calls_total{result="\#($0)"}"# }
        + ["retried", "superseded", "gave_up", "exhausted", "not_found", "rejected"]
        .map { #"hdp_retry_episodes_total{outcome="\#($0)"}"# }
        + ["closed", "open", "half_open"].map { #"hdp_retry_circuit_transitions_total{to="\#($0)"}"# }
        + ["success", "failure"].map { #"hdp_retry_rules_reloads_total{result="\#($0)"}"# }
        + ["failed", "not_failed", "not_found", "server_error"].map {
            #"hdp_retry_status_checks_total{result="\#($0)"}"#
        }
        + [
            "hdp_retry_pending_retries", "hdp_retry_in_flight", "hdp_retry_oldest_pending_seconds",
            "hdp_retry_circuit_state", "hdp_retry_journal_records_total", "hdp_retry_journal_bytes",
            "hdp_retry_journal_compactions_total", "hdp_retry_journal_truncated_bytes_total",
            "hdp_retry_call_duration_seconds_count", "hdp_retry_journal_fsync_seconds_count",
            #"hdp_retry_decisions_total{action="give_up",rule="default"}"#,
        ]

    @Test("every SPEC metric is there at start-up, with # HELP and # TYPE, counters at 0")
    func startUp() {
        let metrics = AgentMetrics(version: "1.2.3")
        metrics.registerDecisions(for: RuleSet.builtIn)
        let exposition = Exposition(metrics.exposition())
        for (name, type) in Self.specified {
            #expect(exposition.help.contains(name), "no # HELP for \(name)")
            #expect(exposition.types[name] == type, "# TYPE of \(name)")
            #expect(
                exposition.samples.keys.contains { $0 == name || $0.hasPrefix(name + "{") || $0.hasPrefix(name + "_") })
        }
        for series in Self.zeroAtStart {
            #expect(exposition.samples[series] == 0, "\(series)")
        }
        for rule in RuleSet.builtIn.rules {
            #expect(
                exposition.samples[
                    #"hdp_retry_decisions_total{action="\#(rule.action.rawValue)",rule="\#(rule.name)"}"#] == 0)
        }
        #expect(exposition.samples[#"hdp_retry_build_info{version="1.2.3"}"#] == 1)
        #expect((exposition.samples["process_resident_memory_bytes"] ?? 0) > 0)
    }

    @Test("a scripted run: three accepted, a duplicate, a forgery, a retry, a 404, and a breaker trip")
    func scriptedRun() async throws {
        var settings = EngineSettings()
        settings.dispatch.breaker.window = 20
        settings.dispatch.breaker.minCalls = 5
        settings.dispatch.breaker.failureRate = 0.5
        settings.dispatch.breaker.consecutiveFailures = 3
        settings.dispatch.ratePerSecond = 1000
        settings.dispatch.burst = 100
        let client = ScriptedHDPClient()
        client.scriptRetries(Self.taskB, [.notFound])
        client.scriptRetries(Self.taskC, Array(repeating: .serverError(httpStatus: 503), count: 3))
        let metrics = AgentMetrics(version: "test")
        let exposition = try await withEngine(settings: settings, metrics: metrics) { harness in
            let dispatcher = Dispatcher(engine: harness.engine, client: client, clock: harness.clock, metrics: metrics)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await dispatcher.run() }
                let app = Application(router: try harness.router())
                try await app.test(.router) { http async throws in
                    func post(
                        _ task: TaskID, id: String, secret: String = EngineHarness.secret
                    ) async throws
                        -> HTTPResponse.Status
                    {
                        let body = noticeBody(task: task.rawValue)
                        let headers = try signedHeaders(
                            body, id: id, now: harness.clock.now, settings: SignatureSettings(secrets: [secret]))
                        return try await http.execute(
                            uri: EngineHarness.path, method: .post, headers: headers, body: ByteBuffer(string: body)
                        ).status
                    }
                    #expect(try await post(Self.taskA, id: "msg_a") == .accepted)
                    #expect(try await post(Self.taskB, id: "msg_b") == .accepted)
                    #expect(try await post(Self.taskC, id: "msg_c") == .accepted)
                    #expect(try await post(Self.taskA, id: "msg_a") == .ok)
                    #expect(try await post(Self.taskA, id: "msg_x", secret: EngineHarness.wrongSecret) == .unauthorized)
                }
                // The first retries are due 10s after the notices.
                harness.clock.advance(by: 11)
                #expect(
                    await harness.eventually {
                        let ledger = await harness.store.ledgerSnapshot
                        return ledger.tasks[Self.taskA]?.state == .ended(.retried)
                            && ledger.tasks[Self.taskB]?.state == .ended(.notFound)
                            && ledger.tasks[Self.taskC]?.episode?.tries == 1
                    })
                // Task C keeps failing: its second and third 503 trip the breaker (3 in a row,
                // and 3 of 5 calls).
                for tries in 2...3 {
                    harness.clock.advance(by: 61)
                    #expect(
                        await harness.eventually {
                            await harness.store.ledgerSnapshot.tasks[Self.taskC]?.episode?.tries == tries
                        })
                }
                #expect(await harness.eventually { await harness.store.ledgerSnapshot.breaker.state == .open })
                group.cancelAll()
            }
            #expect(client.retries(of: Self.taskC) == 3)
            await harness.engine.refreshGauges()
            return Exposition(metrics.exposition())
        }
        let expected: [String: Double] = [
            #"hdp_retry_webhooks_total{outcome="accepted"}"#: 3,
            #"hdp_retry_webhooks_total{outcome="duplicate"}"#: 1,
            #"hdp_retry_webhooks_total{outcome="unauthorized"}"#: 1,
            #"hdp_retry_webhooks_total{outcome="malformed"}"#: 0,
            #"hdp_retry_webhooks_total{outcome="too_large"}"#: 0,
            #"hdp_retry_webhooks_total{outcome="unavailable"}"#: 0,
            #"hdp_retry_decisions_total{action="retry",rule="transient"}"#: 3,
            #"hdp_retry_calls_total{result="accepted"}"#: 1,
            #"hdp_retry_calls_total{result="not_found"}"#: 1,
            #"hdp_retry_calls_total{result="server_error"}"#: 3,
            #"hdp_retry_calls_total{result="rejected"}"#: 0,
            #"hdp_retry_calls_total{result="timeout"}"#: 0,
            #"hdp_retry_status_checks_total{result="failed"}"#: 5,
            #"hdp_retry_status_checks_total{result="not_failed"}"#: 0,
            #"hdp_retry_episodes_total{outcome="retried"}"#: 1,
            #"hdp_retry_episodes_total{outcome="not_found"}"#: 1,
            #"hdp_retry_episodes_total{outcome="exhausted"}"#: 0,
            #"hdp_retry_circuit_transitions_total{to="open"}"#: 1,
            #"hdp_retry_circuit_transitions_total{to="half_open"}"#: 0,
            #"hdp_retry_circuit_transitions_total{to="closed"}"#: 0,
            "hdp_retry_circuit_state": 1,
            "hdp_retry_pending_retries": 1,
            "hdp_retry_in_flight": 0,
            // 3 deliveries, 5 × (attempt_started + attempt_finished), 1 breaker record.
            "hdp_retry_journal_records_total": 14,
            // 5 status checks and 5 retry calls were timed.
            "hdp_retry_call_duration_seconds_count": 10,
        ]
        for (series, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(exposition.samples[series] == value, "\(series)")
        }
        // Counters are written as integers, exactly as scrapers and the README show them.
        #expect(exposition.lines.contains(#"hdp_retry_webhooks_total{outcome="accepted"} 3"#))
        #expect(exposition.lines.contains(#"hdp_retry_calls_total{result="accepted"} 1"#))
        #expect(exposition.lines.contains(#"hdp_retry_circuit_transitions_total{to="open"} 1"#))
        // No series carries a task id.
        for task in [Self.taskA, Self.taskB, Self.taskC] {
            #expect(!exposition.lines.contains { $0.contains(task.rawValue) })
        }
    }
}
