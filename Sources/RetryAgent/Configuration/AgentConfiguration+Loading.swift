import Foundation
import Logging
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
        if let url = environment["HDP_RETRY_DATABASE_URL"], !url.isEmpty {
            store.postgresURL = url
            store.urlLocation = nil
        }
        if let dryRun = environment["HDP_RETRY_DRY_RUN"] {
            switch dryRun {
            case "true", "1": self.dryRun = true
            case "false", "0", "": break
            default: throw ConfigurationError(["HDP_RETRY_DRY_RUN must be true or false"])
            }
        }
        if let level = environment["HDP_RETRY_LOG_LEVEL"], !level.isEmpty {
            guard let value = Logger.Level(rawValue: level) else {
                throw ConfigurationError(["HDP_RETRY_LOG_LEVEL must be \(Logger.Level.spellings)"])
            }
            log.level = value
        }
        if let format = environment["HDP_RETRY_LOG_FORMAT"], !format.isEmpty {
            guard let value = LogFormat(rawValue: format) else {
                throw ConfigurationError(["HDP_RETRY_LOG_FORMAT must be \(LogFormat.spellings)"])
            }
            log.format = value
        }
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
        let signsTime =
            webhook.scheme == .standardWebhooks || (webhook.scheme == .hmacSHA256 && webhook.timestampHeader != nil)
        if signsTime, webhook.dedupWindow < webhook.tolerance {
            // A delivery replayed inside the signature tolerance but after its id left the dedup
            // window would pass as new.
            let place =
                (locations["webhook.dedup_window"] ?? locations["webhook.signature.tolerance"])
                .map { "\($0): " } ?? ""
            problems.append(
                "\(place)webhook.dedup_window (\(DurationText.format(webhook.dedupWindow))) must be at least webhook.signature.tolerance (\(DurationText.format(webhook.tolerance))), or a replay inside the tolerance would pass as a new delivery"
            )
        }
        problems += reconcileProblems()
        problems += storeProblems()
        if !problems.isEmpty { throw ConfigurationError(problems) }
    }
}
