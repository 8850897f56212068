import ArgumentParser
import Foundation
import HDPSimulator
import Logging

/// `hdp-sim`: a stand-in for HDP's task API, for local runs of the agent, demos and tests.
/// (`main.swift` holds top-level code, so the command is parsed and run explicitly at the
/// bottom instead of with `@main`.)
struct HDPSim: AsyncParsableCommand {
    /// Name, abstract and a pointer to the control API for `--help`.
    static let configuration = CommandConfiguration(
        commandName: "hdp-sim",
        abstract: "Simulate the HDP task API (retry, status, state_transitions) with injectable faults.",
        discussion: "Control API under /_sim/: POST tasks, GET calls, GET|PUT faults, POST advance, POST reset."
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
            progressAfterMilliseconds: progressAfterMs)
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
                ])
        }
        try await app.runService()
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
