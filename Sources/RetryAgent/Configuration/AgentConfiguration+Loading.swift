import Foundation
import RetryCore

extension AgentConfiguration {
    /// Flags of `serve` that override everything else.
    public struct Overrides: Sendable {
        public var listen: String?
        public var adminListen: String?
        public var rules: String?
        public var journal: String?
        public var hdpURL: String?
        public var dryRun = false

        public init() {}
    }

    /// Builds the configuration: defaults, then `file` (if given), then `environment`, then `flags`.
    public static func load(
        file: String?, environment: [String: String], flags: Overrides
    ) throws(ConfigurationError) -> AgentConfiguration {
        var configuration = AgentConfiguration()
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigurationError(["cannot read the configuration file \(file): \(error.localizedDescription)"])
            }
            try configuration.apply(yaml: text, file: file)
        }
        try configuration.apply(environment: environment)
        configuration.apply(flags: flags)
        try configuration.validate()
        return configuration
    }

    mutating func apply(environment: [String: String]) throws(ConfigurationError) {
        if let url = environment["HDP_BASE_URL"], !url.isEmpty { hdp.baseURL = url }
        if let listen = environment["HDP_RETRY_LISTEN"], !listen.isEmpty { self.listen = listen }
        if let admin = environment["HDP_RETRY_ADMIN_LISTEN"], !admin.isEmpty { adminListen = admin }
        if let rules = environment["HDP_RETRY_RULES"], !rules.isEmpty {
            self.rules.path = rules
            self.rules.pathIsExplicit = true
        }
        if let journal = environment["HDP_RETRY_JOURNAL"], !journal.isEmpty { self.journal.path = journal }
        if let dryRun = environment["HDP_RETRY_DRY_RUN"] {
            switch dryRun {
            case "true", "1": self.dryRun = true
            case "false", "0", "": break
            default: throw ConfigurationError(["HDP_RETRY_DRY_RUN must be true or false"])
            }
        }
        if let level = environment["HDP_RETRY_LOG_LEVEL"], !level.isEmpty { log.level = level }
        if let format = environment["HDP_RETRY_LOG_FORMAT"], !format.isEmpty { log.format = format }
    }

    mutating func apply(flags: Overrides) {
        if let listen = flags.listen { self.listen = listen }
        if let admin = flags.adminListen { adminListen = admin }
        if let rules = flags.rules {
            self.rules.path = rules
            self.rules.pathIsExplicit = true
        }
        if let journal = flags.journal { self.journal.path = journal }
        if let url = flags.hdpURL { hdp.baseURL = url }
        if flags.dryRun { dryRun = true }
    }

    func validate() throws(ConfigurationError) {
        var problems: [String] = []
        for (key, value) in [("listen", listen), ("admin_listen", adminListen)] where HostPort(value) == nil {
            problems.append("\(key): '\(value)' is not HOST:PORT")
        }
        if let url = URL(string: hdp.baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme),
            url.host != nil
        {
        } else {
            problems.append("hdp.base_url: '\(hdp.baseURL)' is not an http(s) URL")
        }
        if !webhook.path.hasPrefix("/") { problems.append("webhook.path must start with /") }
        if !["standard-webhooks", "hmac-sha256", "url-token", "none"].contains(webhook.scheme) {
            problems.append("webhook.signature.scheme must be standard-webhooks, hmac-sha256, url-token or none")
        }
        if !["text", "json"].contains(log.format) { problems.append("log.format must be text or json") }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(log.level) {
            problems.append("log.level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if !problems.isEmpty { throw ConfigurationError(problems) }
    }
}

/// `HOST:PORT`, with `[v6]:port` for IPv6.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether the address only accepts local connections.
    public var isLoopback: Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }
}
