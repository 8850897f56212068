import Foundation
import Logging
import RetryTesting
import Testing

@testable import RetryAgent

#if canImport(Glibc)
import Glibc
#endif

/// The generated webhook secret and secret files: a file left empty is replaced, one that cannot
/// be read says what to do, and files others can read are warned about.
@Suite("Secret files")
struct SecretFilesTests {
    static func logger(_ store: LogStore) -> Logger {
        Logger(label: "secret-files") { _ in CapturingLogHandler(store: store) }
    }

    /// Before, an empty file (a start that stopped while writing it) made every later start fail
    /// with "File exists".
    @Test func anEmptyGeneratedSecretIsReplaced() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("var/webhook-secret", "")
        let store = LogStore()
        let secrets = try Secrets.webhookSecrets(
            configuration: AgentConfiguration(), environment: [:], logger: Self.logger(store), generatedPath: path)
        let secret = try #require(secrets.first?.value)
        #expect(secret.hasPrefix("whsec_"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == secret + "\n")
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(store.lines.contains { $0.contains("generated webhook secret file is empty") })
        // The next start reuses it.
        let again = try Secrets.webhookSecrets(
            configuration: AgentConfiguration(), environment: [:], logger: Self.logger(LogStore()), generatedPath: path)
        #expect(again.map(\.value) == [secret])
    }

    @Test func anUnreadableGeneratedSecretSaysWhatToDo() throws {
        let folder = try TemporaryFolder()
        let path = folder.path + "/webhook-secret"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)  // not a file
        #expect {
            _ = try Secrets.webhookSecrets(
                configuration: AgentConfiguration(), environment: [:], logger: Self.logger(LogStore()),
                generatedPath: path)
        } throws: { error in
            "\(error)".contains("cannot read the generated webhook secret") && "\(error)".contains("delete it")
        }
    }

    @Test func aSecretFileOthersCanReadIsWarnedAbout() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("secrets", "whsec_MDEyMzQ1Njc4OWFiY2RlZg==\n")
        chmod(path, 0o644)
        var configuration = AgentConfiguration()
        configuration.webhook.secretsFile = path
        let store = LogStore()
        let secrets = try Secrets.webhookSecrets(
            configuration: configuration, environment: [:], logger: Self.logger(store))
        #expect(secrets.map(\.origin) == ["\(path) line 1"])
        #expect(store.lines.contains { $0.contains("can be read by other users") && $0.contains("644") })
        #expect(!store.lines.contains { $0.contains("MDEyMzQ1Njc4OWFiY2RlZg") })
        chmod(path, 0o600)
        let quiet = LogStore()
        _ = try Secrets.webhookSecrets(configuration: configuration, environment: [:], logger: Self.logger(quiet))
        #expect(!quiet.lines.contains { $0.contains("can be read by other users") })
    }

    @Test func aSecretIsNamedByWhereItCameFrom() throws {
        let secrets = try Secrets.webhookSecrets(
            configuration: AgentConfiguration(),
            environment: ["WEBHOOK_SECRETS": "whsec_MDEyMzQ1Njc4OWFiY2RlZg==, ,whsec_YWJj"],
            logger: Self.logger(LogStore()))
        #expect(secrets.map(\.origin) == ["WEBHOOK_SECRETS entry 1", "WEBHOOK_SECRETS entry 3"])
    }
}
