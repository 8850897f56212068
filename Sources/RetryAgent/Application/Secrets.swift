import Foundation
import Logging
import RetryCore
import WebhookAuth

#if canImport(Glibc)
import Glibc
#endif

/// A webhook secret and where it came from, so that a problem with it can be named without
/// showing it.
struct WebhookSecret: Sendable {
    var value: String
    /// `WEBHOOK_SECRETS entry 2`, `/etc/hdp/secrets line 3`, or the generated file.
    var origin: String
}

/// Reads secrets from the environment or files; never from the configuration file itself.
///
/// A secret file that others on the machine can read is warned about (it still works: the
/// operator may have reasons), and nothing here ever logs or prints a secret's value.
enum Secrets {
    static func hdpAPIKey(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger? = nil
    ) throws(ConfigurationError) -> String? {
        if let key = environment["HDP_API_KEY"], !key.isEmpty { return key }
        guard let path = configuration.hdp.apiKeyFile else { return nil }
        return try firstLine(of: path, what: "hdp.api_key_file", logger: logger)
    }

    static func adminToken(
        configuration: AgentConfiguration, logger: Logger? = nil
    ) throws(ConfigurationError)
        -> String?
    {
        guard let path = configuration.admin.tokenFile else { return nil }
        return try firstLine(of: path, what: "admin.token_file", logger: logger)
    }

    /// `WEBHOOK_SECRETS`, else `webhook.signature.secrets_file`, else a generated secret kept in
    /// `./var/webhook-secret` (mode 0600) and reused on later starts.
    static func webhookSecrets(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger,
        generatedPath: String = generatedSecretPath
    ) throws(ConfigurationError) -> [WebhookSecret] {
        if configuration.webhook.scheme == .none { return [] }
        if let list = environment["WEBHOOK_SECRETS"] {
            let secrets = list.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .enumerated()
                .filter { !$0.element.isEmpty }
                .map { WebhookSecret(value: $0.element, origin: "WEBHOOK_SECRETS entry \($0.offset + 1)") }
            if !secrets.isEmpty { return secrets }
        }
        if let path = configuration.webhook.secretsFile {
            let secrets = try lines(of: path, what: "webhook.signature.secrets_file", logger: logger)
            guard !secrets.isEmpty else {
                throw ConfigurationError(["webhook.signature.secrets_file \(path) holds no secret"])
            }
            return secrets.map { WebhookSecret(value: $0.text, origin: "\(path) line \($0.line)") }
        }
        if configuration.store.backend == .postgres {
            // Agents sharing a database sit behind one load balancer: a secret each agent made
            // up for itself would get every delivery signed for another agent refused (401).
            let advice =
                "store.backend is postgres but no webhook secret is configured: this agent uses a secret of its own, "
                + "which the other agents do not know; give every agent the same WEBHOOK_SECRETS or "
                + "webhook.signature.secrets_file"
            logger.warning("\(advice)")
        }
        return [try generatedSecret(scheme: configuration.webhook.scheme, path: generatedPath, logger: logger)]
    }

    /// Where a generated webhook secret lives.
    static let generatedSecretPath = "./var/webhook-secret"

    /// The secret generated on an earlier start, or a new one. A file left empty (a crash while it
    /// was being written) is replaced; one that cannot be read is an error that says what to do.
    private static func generatedSecret(
        scheme: SignatureScheme, path: String, logger: Logger
    ) throws(ConfigurationError) -> WebhookSecret {
        if FileManager.default.fileExists(atPath: path) {
            let existing = try lines(of: path, what: "the generated webhook secret", logger: logger, generated: true)
            if let secret = existing.first {
                logger.notice("using the generated webhook secret", metadata: ["secret_file": "\(path)"])
                return WebhookSecret(value: secret.text, origin: path)
            }
            logger.warning(
                "the generated webhook secret file is empty (a start that stopped while writing it?); generating a new one",
                metadata: ["secret_file": "\(path)"])
        }
        let secret: String
        do {
            secret = try WebhookSecretGenerator.generate(for: scheme)
        } catch {
            throw ConfigurationError(["cannot generate a webhook secret: \(error)"])
        }
        try writeSecretFile(secret + "\n", to: path)
        logger.notice(
            "no webhook secret configured: generated one (senders sign with it; `hdp-retry-agent send` uses it)",
            metadata: ["secret_file": "\(path)"]
        )
        return WebhookSecret(value: secret, origin: path)
    }

    /// Writes `text` to `path` with mode 0600 and makes it durable: a temporary file opened with
    /// `O_EXCL | O_NOFOLLOW` (never through a link someone planted), every write and the fsync
    /// checked, renamed over `path`, and the directory fsynced.
    static func writeSecretFile(_ text: String, to path: String) throws(ConfigurationError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError(["cannot create \(directory): \(error.localizedDescription)"])
        }
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError(["cannot create \(temporary): \(String(cString: strerror(errno)))"])
        }
        func fail(_ what: String, _ code: Int32) -> ConfigurationError {
            close(fd)
            unlink(temporary)
            return ConfigurationError(["cannot \(what) \(temporary): \(String(cString: strerror(code)))"])
        }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw fail("write", errno)
            }
            written += count
        }
        guard fsync(fd) == 0 else { throw fail("fsync", errno) }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw ConfigurationError(["cannot rename \(temporary) to \(path): \(String(cString: strerror(code)))"])
        }
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// The non-empty lines of a secret file, trimmed, with their 1-based line numbers.
    private static func lines(
        of path: String, what: String, logger: Logger?, generated: Bool = false
    ) throws(ConfigurationError) -> [(
        text: String, line: Int
    )] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            var message = "cannot read \(what) \(path): \(error.localizedDescription)"
            if generated {
                message += "; fix its permissions, or delete it to have a new secret generated"
            }
            throw ConfigurationError([message])
        }
        if let logger { warnIfReadableByOthers(path, what: what, logger: logger) }
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap {
            let trimmed = $0.element.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : (trimmed, $0.offset + 1)
        }
    }

    private static func firstLine(
        of path: String, what: String, logger: Logger?
    ) throws(ConfigurationError)
        -> String
    {
        guard let line = try lines(of: path, what: what, logger: logger).first else {
            throw ConfigurationError(["\(what) \(path) is empty"])
        }
        return line.text
    }

    /// Warns when the group or others may read the secret file at `path`.
    static func warnIfReadableByOthers(_ path: String, what: String, logger: Logger) {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o044 != 0 else { return }
        logger.warning(
            "a secret file can be read by other users; chmod 600 it",
            metadata: [
                "secret_file": "\(path)", "secret_of": "\(what)", "mode": "\(String(info.st_mode & 0o777, radix: 8))",
            ])
    }
}

/// The secrets the `send` command signs with, found the way `serve` finds them.
public enum SenderSecrets {
    public static func secrets(
        configuration: AgentConfiguration, environment: [String: String], logger: Logger
    ) throws(ConfigurationError) -> [String] {
        try Secrets.webhookSecrets(configuration: configuration, environment: environment, logger: logger).map(\.value)
    }
}
