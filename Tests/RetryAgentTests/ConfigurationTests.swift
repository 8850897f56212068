import Foundation
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// `AgentConfiguration.load`: defaults < file < environment < flags, strict keys, durations.
@Suite("Configuration")
struct ConfigurationTests {
    /// Writes `yaml` to a fresh file and loads it with `environment` and `flags`.
    static func load(
        _ yaml: String?, environment: [String: String] = [:], flags: AgentConfiguration.Overrides = .init()
    ) throws -> AgentConfiguration {
        guard let yaml else { return try AgentConfiguration.load(file: nil, environment: environment, flags: flags) }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/agent.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return try AgentConfiguration.load(file: path, environment: environment, flags: flags)
    }

    /// The configuration error of loading `yaml` from `agent.yaml`, with the file path made
    /// predictable (`agent.yaml`) for comparison.
    static func error(_ yaml: String, environment: [String: String] = [:]) throws -> String {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/agent.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try AgentConfiguration.load(file: path, environment: environment, flags: .init())
        } catch {
            return error.description.replacingOccurrences(of: directory + "/", with: "")
        }
        Issue.record("the configuration loaded")
        return ""
    }

    /// One key settable at each level, and how to read it back.
    struct Key: Sendable, CustomTestStringConvertible {
        var name: String
        var file: String
        var fileValue: String
        var env: String
        var envValue: String
        var flag: @Sendable (inout AgentConfiguration.Overrides) -> Void
        var flagValue: String
        var defaultValue: String
        var read: @Sendable (AgentConfiguration) -> String
        var testDescription: String { name }
    }

    static let keys: [Key] = [
        Key(
            name: "listen", file: "listen: 127.0.0.1:1001", fileValue: "127.0.0.1:1001", env: "HDP_RETRY_LISTEN",
            envValue: "127.0.0.1:1002", flag: { $0.listen = "127.0.0.1:1003" }, flagValue: "127.0.0.1:1003",
            defaultValue: "127.0.0.1:8080", read: { $0.listen }),
        Key(
            name: "admin_listen", file: "admin_listen: 127.0.0.1:2001", fileValue: "127.0.0.1:2001",
            env: "HDP_RETRY_ADMIN_LISTEN", envValue: "127.0.0.1:2002", flag: { $0.adminListen = "127.0.0.1:2003" },
            flagValue: "127.0.0.1:2003", defaultValue: "127.0.0.1:9464", read: { $0.adminListen }),
        Key(
            name: "journal.path", file: "journal:\n  path: /file/j.jsonl", fileValue: "/file/j.jsonl",
            env: "HDP_RETRY_JOURNAL", envValue: "/env/j.jsonl", flag: { $0.journal = "/flag/j.jsonl" },
            flagValue: "/flag/j.jsonl", defaultValue: "./var/journal.jsonl", read: { $0.journal.path }),
        Key(
            name: "rules.path", file: "rules:\n  path: /file/rules", fileValue: "/file/rules", env: "HDP_RETRY_RULES",
            envValue: "/env/rules", flag: { $0.rules = "/flag/rules" }, flagValue: "/flag/rules",
            defaultValue: "./rules", read: { $0.rules.path }),
        Key(
            name: "hdp.base_url", file: "hdp:\n  base_url: http://file.example", fileValue: "http://file.example",
            env: "HDP_BASE_URL", envValue: "http://env.example", flag: { $0.hdpURL = "http://flag.example" },
            flagValue: "http://flag.example", defaultValue: "https://staging.hdp.api.herodotus.cloud",
            read: { $0.hdp.baseURL }),
        Key(
            name: "dry_run", file: "dry_run: false", fileValue: "false", env: "HDP_RETRY_DRY_RUN", envValue: "true",
            flag: { $0.dryRun = true }, flagValue: "true", defaultValue: "false", read: { "\($0.dryRun)" }),
    ]

    @Test("flag > environment > file > default", arguments: keys)
    func precedence(key: Key) throws {
        var flags = AgentConfiguration.Overrides()
        key.flag(&flags)
        #expect(key.read(try Self.load(nil)) == key.defaultValue)
        #expect(key.read(try Self.load(key.file)) == key.fileValue)
        #expect(key.read(try Self.load(key.file, environment: [key.env: key.envValue])) == key.envValue)
        #expect(key.read(try Self.load(key.file, environment: [key.env: key.envValue], flags: flags)) == key.flagValue)
        #expect(key.read(try Self.load(nil, flags: flags)) == key.flagValue)
    }

    @Test("a file sets the level below it only for its own keys")
    func fileKeepsOtherDefaults() throws {
        let configuration = try Self.load("journal:\n  fsync: never\n", environment: ["HDP_RETRY_LOG_LEVEL": "debug"])
        #expect(configuration.journal.fsync == .never)
        #expect(configuration.journal.path == "./var/journal.jsonl")
        #expect(configuration.log.level == .debug)
        #expect(configuration.listen == "127.0.0.1:8080")
    }

    @Test(
        "an unknown key fails with FILE:LINE:COLUMN and a suggestion",
        arguments: [
            ("listen: 127.0.0.1:8080\nadmin_listn: 1\n", "agent.yaml:2:1: unknown key 'admin_listn'", "'admin_listen'"),
            (
                "journal:\n  path: j.jsonl\n  fsnyc: always\n", "agent.yaml:3:3: unknown key 'fsnyc' in journal",
                "'fsync'"
            ),
            (
                "webhook:\n  signature:\n    shceme: none\n",
                "agent.yaml:3:5: unknown key 'shceme' in webhook.signature", "'scheme'"
            ),
            (
                "circuit_breaker:\n  min_call: 3\n", "agent.yaml:2:3: unknown key 'min_call' in circuit_breaker",
                "'min_calls'"
            ),
        ])
    func unknownKey(yaml: String, prefix: String, suggestion: String) throws {
        let message = try Self.error(yaml)
        #expect(message.hasPrefix(prefix), "\(message)")
        #expect(message.contains("did you mean \(suggestion)?"), "\(message)")
    }

    @Test(
        "durations: 500ms, 30s, 10m, 24h",
        arguments: [
            ("hdp:\n  timeout: 500ms\n", Duration.milliseconds(500), "hdp.timeout"),
            ("webhook:\n  signature:\n    tolerance: 30s\n", .seconds(30), "webhook.signature.tolerance"),
            ("circuit_breaker:\n  max_open_for: 10m\n", .seconds(600), "circuit_breaker.max_open_for"),
            ("webhook:\n  dedup_window: 24h\n", .seconds(86_400), "webhook.dedup_window"),
            ("journal:\n  retention: 1h30m\n", .seconds(5_400), "journal.retention"),
        ])
    func durations(yaml: String, expected: Duration, key: String) throws {
        let configuration = try Self.load(yaml)
        let value: Duration? =
            switch key {
            case "hdp.timeout": configuration.hdp.timeout
            case "webhook.signature.tolerance": configuration.webhook.tolerance
            case "circuit_breaker.max_open_for": configuration.circuitBreaker.maxOpenFor
            case "webhook.dedup_window": configuration.webhook.dedupWindow
            case "journal.retention": configuration.journal.retention
            default: nil
            }
        #expect(value == expected, "\(key)")
    }

    @Test(
        "a bad duration names the key and its line",
        arguments: [
            ("hdp:\n  timeout: 30\n", "agent.yaml:2:12: hdp.timeout must be a duration"),
            ("hdp:\n  timeout: 10 minutes\n", "agent.yaml:2:12: hdp.timeout must be a duration"),
            ("circuit_breaker:\n  open_for: 5d\n", "agent.yaml:2:13: circuit_breaker.open_for must be a duration"),
            ("dispatch:\n  retry_after_cap: -1s\n", "agent.yaml:2:20: dispatch.retry_after_cap must be a duration"),
        ])
    func badDuration(yaml: String, prefix: String) throws {
        let message = try Self.error(yaml)
        #expect(message.hasPrefix(prefix), "\(message)")
    }

    /// Before: 2562048h trapped (the agent crashed at start), a zero rate busy-looped the
    /// dispatcher, and a dedup window shorter than the signature tolerance let a replay inside the
    /// tolerance pass as a new delivery.
    @Test(
        "a value outside its bounds names the key and its line",
        arguments: [
            ("hdp:\n  timeout: 2562048h\n", "agent.yaml:2:12: hdp.timeout must be at most 87600h (10 years)"),
            ("hdp:\n  timeout: 0s\n", "agent.yaml:2:12: hdp.timeout must be longer than zero"),
            (
                "dispatch:\n  rate_per_second: 0\n",
                "agent.yaml:2:20: dispatch.rate_per_second must be more than 0 and at most 10000, not 0"
            ),
            (
                "dispatch:\n  max_in_flight: 0\n",
                "agent.yaml:2:18: dispatch.max_in_flight must be between 1 and 1024, not 0"
            ),
            (
                "circuit_breaker:\n  failure_rate: 1.5\n",
                "agent.yaml:2:17: circuit_breaker.failure_rate must be more than 0 and at most 1, not 1.5"
            ),
            (
                "webhook:\n  dedup_window: 1m\n",
                "agent.yaml:2:17: webhook.dedup_window (1m) must be at least webhook.signature.tolerance (5m), or a replay inside the tolerance would pass as a new delivery"
            ),
            (
                "webhook:\n  max_connections: 0\n",
                "agent.yaml:2:20: webhook.max_connections must be between 1 and 1000000, not 0"
            ),
        ])
    func outOfBounds(yaml: String, expected: String) throws {
        #expect(try Self.error(yaml) == expected)
    }

    @Test(
        "a word outside its set names the key, its line and the words it may be",
        arguments: [
            ("log:\n  format: yaml\n", "agent.yaml:2:11: log.format must be text or json"),
            (
                "log:\n  level: verbose\n",
                "agent.yaml:2:10: log.level must be trace, debug, info, notice, warning, error or critical"
            ),
            (
                "webhook:\n  signature:\n    scheme: hmac\n",
                "agent.yaml:3:13: webhook.signature.scheme must be standard-webhooks, hmac-sha256, url-token or none"
            ),
            ("journal:\n  fsync: sometimes\n", "agent.yaml:2:10: journal.fsync must be always, interval or never"),
        ])
    func badWord(yaml: String, expected: String) throws {
        #expect(try Self.error(yaml) == expected)
    }

    @Test("a bad log level or format in the environment names the variable")
    func badWordInTheEnvironment() throws {
        #expect(throws: ConfigurationError.self) { try Self.load("", environment: ["HDP_RETRY_LOG_LEVEL": "loud"]) }
        do {
            _ = try Self.load("", environment: ["HDP_RETRY_LOG_FORMAT": "xml"])
            Issue.record("HDP_RETRY_LOG_FORMAT=xml was accepted")
        } catch {
            #expect("\(error)" == "HDP_RETRY_LOG_FORMAT must be text or json")
        }
    }

    @Test("hdp.api_key in the file is refused, naming the place and the alternatives")
    func apiKeyInFile() throws {
        let message = try Self.error("hdp:\n  base_url: http://hdp.example\n  api_key: sk-live-123\n")
        #expect(message.hasPrefix("agent.yaml:3:3: hdp.api_key must not be in the configuration file"), "\(message)")
        #expect(message.contains("HDP_API_KEY"))
        #expect(!message.contains("sk-live-123"))
    }

    @Test(
        "an invalid listen address is refused",
        arguments: ["localhost", "127.0.0.1:", ":8080", "127.0.0.1:99999", "127.0.0.1:http"])
    func invalidListen(address: String) throws {
        #expect(HostPort(address) == nil)
        let fromFile = try Self.error("listen: \"\(address)\"\n")
        #expect(fromFile.contains("listen: '\(address)' is not HOST:PORT"), "\(fromFile)")
        var flags = AgentConfiguration.Overrides()
        flags.adminListen = address
        #expect {
            _ = try AgentConfiguration.load(file: nil, environment: [:], flags: flags)
        } throws: { error in
            "\(error)".contains("admin_listen: '\(address)' is not HOST:PORT")
        }
    }

    @Test("HOST:PORT forms that are accepted", arguments: ["127.0.0.1:0", "[::1]:8080", "0.0.0.0:65535"])
    func validListen(address: String) throws {
        var flags = AgentConfiguration.Overrides()
        flags.listen = address
        #expect(try Self.load(nil, flags: flags).listen == address)
    }

    @Test("a bad HDP_RETRY_DRY_RUN is refused")
    func badDryRunEnvironment() {
        #expect(throws: ConfigurationError.self) {
            _ = try AgentConfiguration.load(file: nil, environment: ["HDP_RETRY_DRY_RUN": "maybe"], flags: .init())
        }
    }
}
