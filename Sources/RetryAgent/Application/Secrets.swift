import Foundation
import Logging
import RetryCore
import WebhookAuth

#if canImport(Glibc)
import Glibc
#endif

/// Reads secrets from the environment or files; never from the configuration file itself.
enum Secrets {
    static func hdpAPIKey(
        configuration: AgentConfiguration, environment: [String: String]
    ) throws(ConfigurationError) -> String? {
        if let key = environment["HDP_API_KEY"], !key.isEmpty { return key }
        guard let path = configuration.hdp.apiKeyFile else { return nil }
        return try firstLine(of: path, what: "hdp.api_key_file")
    }

    static func adminToken(configuration: AgentConfiguration) throws(ConfigurationError) -> String? {
        guard let path = configuration.admin.tokenFile else { return nil }
        return try firstLine(of: path, what: "admin.token_file")
    }

    /// `WEBHOOK_SECRETS`, else `webhook.signature.secrets_file`, else a generated secret kept in
    /// `./var/webhook-secret` (mode 0600) and reused on later starts.
    static func webhookSecrets(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger
    ) throws(ConfigurationError) -> [String] {
        if configuration.webhook.scheme == .none { return [] }
        if let list = environment["WEBHOOK_SECRETS"] {
            let secrets = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            if !secrets.isEmpty { return secrets }
        }
        if let path = configuration.webhook.secretsFile {
            let secrets = try lines(of: path, what: "webhook.signature.secrets_file")
            guard !secrets.isEmpty else {
                throw ConfigurationError(["webhook.signature.secrets_file \(path) holds no secret"])
            }
            return secrets
        }
        let path = generatedSecretPath
        if let existing = try? lines(of: path, what: "generated secret"), let secret = existing.first {
            logger.notice("using the generated webhook secret", metadata: ["secret_file": "\(path)"])
            return [secret]
        }
        let scheme = configuration.webhook.scheme
        let secret: String
        do {
            secret = try WebhookSecretGenerator.generate(for: scheme)
        } catch {
            throw ConfigurationError(["cannot generate a webhook secret: \(error)"])
        }
        do {
            try FileManager.default.createDirectory(atPath: "./var", withIntermediateDirectories: true)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else {
                throw ConfigurationError(["cannot create \(path): \(String(cString: strerror(errno)))"])
            }
            let text = secret + "\n"
            _ = text.withCString { write(fd, $0, strlen($0)) }
            fsync(fd)
            close(fd)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError(["cannot create ./var: \(error.localizedDescription)"])
        }
        logger.notice(
            "no webhook secret configured: generated one (senders sign with it; `hdp-retry-agent send` uses it)",
            metadata: ["secret_file": "\(path)"]
        )
        return [secret]
    }

    /// Where a generated webhook secret lives.
    static let generatedSecretPath = "./var/webhook-secret"

    private static func lines(of path: String, what: String) throws(ConfigurationError) -> [String] {
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        } catch {
            throw ConfigurationError(["cannot read \(what) \(path): \(error.localizedDescription)"])
        }
    }

    private static func firstLine(of path: String, what: String) throws(ConfigurationError) -> String {
        guard let line = try lines(of: path, what: what).first else {
            throw ConfigurationError(["\(what) \(path) is empty"])
        }
        return line
    }
}

/// The secrets the `send` command signs with, found the way `serve` finds them.
public enum SenderSecrets {
    public static func secrets(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger
    ) throws(ConfigurationError) -> [String] {
        try Secrets.webhookSecrets(configuration: configuration, environment: environment, logger: logger)
    }
}
