import Foundation
import RetryTesting
import Testing

@testable import RetryAgent

/// The Kubernetes overlay for the PostgreSQL store loads through the agent's strict loader and
/// runs several agents (SPEC §8).
@Suite struct PostgresDeployFilesTests {
    static let overlay = DeployFilesTests.deploy.appendingPathComponent("kubernetes/postgres")

    @Test func configurationUsesTheDatabaseFromTheEnvironment() throws {
        let configuration = try AgentConfiguration.load(
            file: Self.overlay.appendingPathComponent("config.yaml").path,
            environment: ["HDP_RETRY_DATABASE_URL": "postgres://hdp:secret@db.example:5432/hdp_retry?sslmode=require"],
            flags: .init())
        #expect(configuration.store.backend == .postgres)
        let settings = try #require(configuration.postgresSettings)
        #expect(settings.url.host == "db.example" && settings.url.database == "hdp_retry")
        #expect(settings.lease == .seconds(120))
        // Without the URL the start is refused, saying where to put it.
        #expect(throws: ConfigurationError.self) {
            try AgentConfiguration.load(
                file: Self.overlay.appendingPathComponent("config.yaml").path, environment: [:], flags: .init())
        }
    }

    @Test func deploymentRunsThreeAgentsWithABudgetAndTheDatabaseSecret() throws {
        let deployment = try String(
            contentsOf: Self.overlay.appendingPathComponent("deployment.yaml"), encoding: .utf8)
        #expect(deployment.contains("kind: Deployment\n"))
        #expect(deployment.contains("replicas: 3\n"))
        #expect(deployment.contains("name: HDP_RETRY_DATABASE_URL\n"))
        #expect(deployment.contains("path: /readyz"))
        #expect(!deployment.contains("/var/lib/hdp-retry-agent"))
        let budget = try String(
            contentsOf: Self.overlay.appendingPathComponent("poddisruptionbudget.yaml"), encoding: .utf8)
        #expect(budget.contains("kind: PodDisruptionBudget\n") && budget.contains("maxUnavailable: 1\n"))
        let kustomization = try String(
            contentsOf: Self.overlay.appendingPathComponent("kustomization.yaml"), encoding: .utf8)
        for resource in ["../", "deployment.yaml", "poddisruptionbudget.yaml"] {
            #expect(kustomization.contains("  - \(resource)\n"))
        }
    }
}
