import Foundation
import Logging
import RetryCore
import RetryJournal
import RetryRules
import WebhookAuth

/// The whole configuration of `serve` (SPEC §3 "Configuration"): defaults, overridden by the YAML
/// file, then the environment, then flags. Secrets are never part of the file: only paths to them.
public struct AgentConfiguration: Sendable {
    public var listen = "127.0.0.1:8080"
    public var adminListen = "127.0.0.1:9464"
    public var dryRun = false
    public var hdp = HDP()
    public var webhook = Webhook()
    public var rules = Rules()
    public var journal = Journal()
    public var dispatch = DispatchSettings()
    public var circuitBreaker = CircuitBreakerSettings()
    public var log = Log()
    public var admin = Admin()
    public var retryAfterCap: Duration = .seconds(3600)
    /// Where keys were set in the configuration file, for errors that involve more than one key.
    var locations: [String: SourceLocation] = [:]
    /// `reconcile.*`: sweeps of HDP's task list for failures whose webhook never arrived.
    public var reconcile = ReconcileSettings()
    /// `store.*`: the file journal (default) or a PostgreSQL database shared by several agents.
    public var store = StoreSettings()

    public struct HDP: Sendable {
        public var baseURL = "https://staging.hdp.api.herodotus.cloud"
        public var apiKeyFile: String?
        public var timeout: Duration = .seconds(10)
        public var confirmStatus = true
    }

    public struct Webhook: Sendable {
        public var path = "/webhooks/hdp"
        public var maxBodyBytes = 65_536
        /// `webhook.max_connections`, `request_timeout`, `max_header_bytes` (both listeners).
        public var limits = ListenerLimits()
        public var dedupWindow: Duration = .seconds(86_400)
        public var scheme: SignatureScheme = .standardWebhooks
        public var header = "X-Signature-256"
        public var timestampHeader: String?
        public var tolerance: Duration = .seconds(300)
        public var secretsFile: String?
        /// Dotted JSON paths replacing the built-in field lookups.
        public var fields: [String: String] = [:]
    }

    public struct Rules: Sendable {
        public var path = "./rules"
        /// Whether `path` was set explicitly (file, env or flag): then a missing path is an error.
        public var pathIsExplicit = false
        public var watch = true
    }

    public struct Journal: Sendable {
        public var path = "./var/journal.jsonl"
        public var fsync: FsyncPolicy = .always
        public var compactAboveBytes: Int64 = 67_108_864
        public var retention: Duration = .seconds(168 * 3600)
    }

    public struct Log: Sendable {
        public var format: LogFormat = .text
        public var level: Logger.Level = .info
    }

    public struct Admin: Sendable {
        /// A file holding a bearer token that protects the mutating and task endpoints.
        public var tokenFile: String?
    }

    public init() {}
}

/// How log lines are written (`log.format`).
public enum LogFormat: String, Sendable, Hashable, CaseIterable {
    /// One readable line per event.
    case text
    /// One JSON object per line, for log shippers.
    case json
}

/// A configuration that cannot be used; the message names the key (and line, for the file).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var messages: [String]
    public var description: String { messages.joined(separator: "\n") }

    public init(_ messages: [String]) { self.messages = messages }
}
