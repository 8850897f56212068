import ArgumentParser
import Foundation
import HDPSimulator
import Logging
import RetryCore

/// `hdp-sim`: a stand-in for HDP's task API, for local runs of the agent, demos and tests.
/// (`main.swift` holds top-level code, so the command is parsed and run explicitly at the
/// bottom instead of with `@main`.)
struct HDPSim: AsyncParsableCommand {
    /// Name, abstract and a pointer to the control API for `--help`.
    static let configuration = CommandConfiguration(
        commandName: "hdp-sim",
        abstract:
            "Simulate the HDP task API (retry, status, state_transitions, the task list) with injectable faults.",
        discussion: """
            HDP endpoints:
              POST /tasks/{id}/retry          GET /tasks/{id}/status
              GET  /tasks/{id}/state_transitions
              GET  /tasks?hdp_tasks_page=N&hdp_tasks_per_page=N&hdp_tasks_search=TEXT
                   (page from 1, per_page 20 by default and at most 100)

            Control API under /_sim/ (JSON bodies):
              POST tasks         {task_id, status, error, results_missing, fail_again}
                                 or an array of them
              GET  tasks         every task as the simulator holds it
              GET  calls         counts per endpoint, and of failure callbacks
              GET|PUT faults     {error_rate, error_status, latency_ms, rate_limit,
                                 outage, outage_ms, fail_again, progress_after_ms,
                                 endpoints}
              GET|PUT list_shape {container: tasks|data|items|array, id_key,
                                 error_key, updated_key}
              GET|PUT webhooks   {drop, drop_next, url}; GET adds sent, dropped,
                                 failed, pending and the recent callbacks
              POST advance       {ms} moves simulator time; no body settles re-runs
              POST reset         back to the start-up state
              GET  health

            Faults apply to the "endpoints" listed, by default retry, status and
            state_transitions; add "list" to fault the task list too.

            Failure callbacks (--webhook-url, or "url" in PUT webhooks): HDP's
            {status, task_id, timestamp, error}, POSTed once when a task created with
            POST tasks is failed or a retried task fails again. Dropped, refused and
            non-2xx ones are counted, never redelivered.
            """
    )

    @Option(help: "Address to listen on (HOST:PORT; port 0 picks a free one).")
    var listen = "127.0.0.1:8090"

    @Option(help: "X-API-KEY the retry endpoint accepts (default: $HDP_API_KEY, else hdp-sim-key).")
    var apiKey: String?

    @Option(
        help:
            "JSON file of tasks to create at start: an array of {task_id, status, error, results_missing, fail_again}.")
    var tasks: String?

    @Option(help: "Seed for random faults, so runs are reproducible.")
    var seed: UInt64 = 1

    @Option(help: "Fraction (0-1) of HDP calls answered with --error-status.")
    var errorRate: Double = 0

    @Option(help: "Status code of random errors.")
    var errorStatus: Int = 503

    @Option(help: "Latency added to every HDP call, in milliseconds.")
    var latencyMs: Int = 0

    @Option(help: "Answer the next N HDP calls with 429 (see --rate-limit-always).")
    var rateLimitCount: Int?

    @Flag(help: "Answer every HDP call with 429.")
    var rateLimitAlways = false

    @Option(help: "Retry-After seconds sent with 429.")
    var retryAfter: Int?

    @Flag(help: "Send Retry-After as an HTTP date instead of seconds.")
    var retryAfterDate = false

    @Flag(help: "Answer every HDP call with 503 until the faults are changed.")
    var outage = false

    @Option(help: "Answer every HDP call with 503 for this many milliseconds after start.")
    var outageMs: Int?

    @Option(help: "How many times a re-run fails again, for tasks that do not say.")
    var failAgain: Int = 0

    @Option(help: "Settle a re-run this many milliseconds after its retry (default: stay at Received).")
    var progressAfterMs: Int?

    @Option(
        help: ArgumentHelp(
            "Endpoints the faults apply to, comma-separated (retry, status, state_transitions, list).",
            valueName: "list"))
    var faultEndpoints = "retry,status,state_transitions"

    @Option(help: "Where to POST HDP's failure callback (an http:// URL, like HDP's webhook_url).")
    var webhookURL: String?

    @Option(
        help: ArgumentHelp(
            "Sign failure callbacks with Standard Webhooks under this secret (whsec_…; default: $WEBHOOK_SECRET, else unsigned like HDP).",
            valueName: "secret"))
    var webhookSecret: String?

    @Option(help: "How the task list is spelled: tasks, data, items or array (see PUT /_sim/list_shape).")
    var listContainer = "tasks"

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"

    /// Builds the configuration from the flags and serves until SIGTERM or SIGINT.
    func run() async throws {
        var logger = Logger(label: "hdp-sim")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let (host, port) = try parseListen(listen)
        let environmentKey = ProcessInfo.processInfo.environment["HDP_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        var configuration = SimulatorConfiguration(
            host: host, port: port, apiKey: apiKey ?? environmentKey ?? "hdp-sim-key", seed: seed)
        if let tasks {
            configuration.tasks = try TaskSpec.decodeList(from: try Data(contentsOf: URL(fileURLWithPath: tasks)))
        }
        var rateLimit: RateLimitFault?
        if rateLimitAlways || rateLimitCount != nil {
            rateLimit = RateLimitFault(
                count: rateLimitAlways ? nil : rateLimitCount, retryAfter: retryAfter, httpDate: retryAfterDate)
        }
        configuration.faults = SimulatorFaults(
            errorRate: errorRate, errorStatus: errorStatus, latencyMilliseconds: latencyMs, rateLimit: rateLimit,
            outage: outage, outageMilliseconds: outageMs, failAgain: failAgain,
            progressAfterMilliseconds: progressAfterMs, endpoints: try parseEndpoints(faultEndpoints))
        guard let container = SimulatorListShape.Container(rawValue: listContainer) else {
            throw ValidationError("--list-container must be tasks, data, items or array")
        }
        configuration.listShape = SimulatorListShape(container: container)
        configuration.webhookURL = webhookURL
        let environmentSecret = ProcessInfo.processInfo.environment["WEBHOOK_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        if let secret = webhookSecret ?? environmentSecret {
            configuration.webhookSigner = try CallbackSigning.standardWebhooks(secret: secret) { key, message in
                Crypto.hmacSHA256(key: key, data: message)
            }
        }
        let keySource = apiKey != nil ? "--api-key" : environmentKey != nil ? "HDP_API_KEY" : "built-in default"
        let state = try SimulatorState(configuration: configuration)
        let taskCount = configuration.tasks.count
        let startLogger = logger
        let app = buildSimulatorApplication(state: state, logger: logger) { boundPort in
            startLogger.info(
                "hdp-sim listening",
                metadata: [
                    "address": .string("http://\(host):\(boundPort)"), "api_key_source": .string(keySource),
                    "tasks": .stringConvertible(taskCount), "seed": .stringConvertible(seed),
                    "webhook_url": .string(webhookURL ?? "none"),
                ])
        }
        try await app.runService()
    }

    private func parseEndpoints(_ text: String) throws -> Set<SimulatorEndpoint> {
        var endpoints = Set<SimulatorEndpoint>()
        for name in text.split(separator: ",", omittingEmptySubsequences: true) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let endpoint = SimulatorEndpoint(rawValue: trimmed) else {
                throw ValidationError(
                    "--fault-endpoints: unknown endpoint \(trimmed) (retry, status, state_transitions, list)")
            }
            endpoints.insert(endpoint)
        }
        return endpoints
    }

    private func parseListen(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port), colon != text.startIndex
        else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8090")
        }
        return (String(text[..<colon]), port)
    }
}

/// The explicit entry point (see the type's comment).
extension HDPSim {
    /// Parses the command line and runs; exits with ArgumentParser's usual messages and codes.
    static func start() async {
        do {
            let command = try parse()
            try await command.run()
        } catch {
            exit(withError: error)
        }
    }
}

await HDPSim.start()
