import Foundation
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

/// The configuration files shipped in `deploy/` load through the agent's own strict loader (an
/// unknown or misspelt key fails the start), and say what their deployment needs: listeners the
/// platform can reach, secrets from files, the journal on the persistent volume.
@Suite struct DeployFilesTests {
    static let deploy = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy")

    static func load(_ path: String) throws -> AgentConfiguration {
        try AgentConfiguration.load(
            file: deploy.appendingPathComponent(path).path, environment: [:], flags: .init())
    }

    @Test func systemdConfigurationReadsCredentialsAndKeepsAdminLocal() throws {
        let configuration = try Self.load("systemd/config.yaml")
        let credentials = "/run/credentials/hdp-retry-agent.service/"
        #expect(configuration.hdp.apiKeyFile == credentials + "hdp-api-key")
        #expect(configuration.webhook.secretsFile == credentials + "webhook-secrets")
        #expect(configuration.adminListen == "127.0.0.1:9464")
        // The unit's StateDirectory and the paths it installs.
        #expect(configuration.journal.path == "/var/lib/hdp-retry-agent/journal.jsonl")
        #expect(configuration.rules.path == "/etc/hdp-retry-agent/rules")
        let unit = try String(
            contentsOf: Self.deploy.appendingPathComponent("systemd/hdp-retry-agent.service"), encoding: .utf8)
        #expect(unit.contains("StateDirectory=hdp-retry-agent"))
        #expect(unit.contains("--config /etc/hdp-retry-agent/config.yaml"))
        for name in ["hdp-api-key", "webhook-secrets"] { #expect(unit.contains("LoadCredential=\(name):")) }
    }

    @Test func kubernetesConfigurationListensOnThePodAndProtectsTheAdminListener() throws {
        let configuration = try Self.load("kubernetes/config.yaml")
        let secrets = "/run/secrets/hdp-retry-agent/"
        #expect(configuration.listen == "0.0.0.0:8080")
        #expect(configuration.adminListen == "0.0.0.0:9464")
        #expect(configuration.hdp.apiKeyFile == secrets + "hdp-api-key")
        #expect(configuration.webhook.secretsFile == secrets + "webhook-secrets")
        #expect(configuration.admin.tokenFile == secrets + "admin-token")
        #expect(configuration.journal.path == "/var/lib/hdp-retry-agent/journal.jsonl")
        let statefulSet = try String(
            contentsOf: Self.deploy.appendingPathComponent("kubernetes/statefulset.yaml"), encoding: .utf8)
        // One writer per journal, its volume and secrets where the configuration looks.
        #expect(statefulSet.contains("replicas: 1\n"))
        #expect(statefulSet.contains("mountPath: /var/lib/hdp-retry-agent\n"))
        #expect(statefulSet.contains("mountPath: /run/secrets/hdp-retry-agent\n"))
    }
}
