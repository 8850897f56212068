import Foundation
import Logging
import PostgresNIO
import RetryCore
import RetryTesting
import Testing

@testable import RetryPostgres

/// The PostgreSQL server the tests run against: `HDP_RETRY_TEST_DATABASE_URL` (a user that may
/// create databases). `.ci/run` starts one and sets it; without it these suites are skipped.
enum TestDatabase {
    static let url = ProcessInfo.processInfo.environment["HDP_RETRY_TEST_DATABASE_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static let isConfigured = url != nil
    static let skipReason: Comment =
        "HDP_RETRY_TEST_DATABASE_URL is not set: start a PostgreSQL (README, Development) to run these tests"

    /// Creates a database of its own for `body`, migrated, and drops it afterwards.
    static func withFresh<Result: Sendable>(
        migrate: Bool = true, _ body: (PostgresStoreSettings) async throws -> Result
    ) async throws -> Result {
        let base = try PostgresURL.parse(try #require(url)).get()
        let name = "hdp_retry_test_\(UInt64.random(in: 0...UInt64.max))"
        try await admin(base) { try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)")).consume() }
        var target = base
        target.database = name
        var settings = PostgresStoreSettings(url: target)
        settings.poolSize = 4
        do {
            if migrate {
                _ = try await PostgresStore.withRunning(settings, logger: silentLogger) { try await $0.migrate() }
            }
            let result = try await body(settings)
            try await drop(name, base: base)
            return result
        } catch {
            try? await drop(name, base: base)
            throw error
        }
    }

    private static func drop(_ name: String, base: PostgresURL) async throws {
        try await admin(base) {
            try await $0.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")).consume()
        }
    }

    /// Runs `body` with a client on `url`.
    static func admin(_ url: PostgresURL, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: url.clientConfiguration(poolSize: 1), backgroundLogger: silentLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }

    /// Runs `body` with stores on `settings` whose pools run meanwhile (one per owner name).
    static func withStores<Result: Sendable>(
        _ settings: PostgresStoreSettings, owners: [String], _ body: ([PostgresStore]) async throws -> Result
    ) async throws -> Result {
        let stores = owners.map { PostgresStore(settings: settings, owner: $0, logger: silentLogger) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { await store.client.run() } }
            defer { group.cancelAll() }
            return try await body(stores)
        }
    }
}
