import Foundation
import RetryTesting
import Testing

@testable import RetryPostgres

/// Database URLs as operators write them (no server needed).
@Suite("PostgreSQL URL")
struct PostgresURLTests {
    @Test("user, password and database are percent-decoded exactly once")
    func decodedOnce() throws {
        let url = try PostgresURL.parse("postgres://app%40ops:ab%2541%3Ax@db.example:6432/hdp%20retry?sslmode=require")
            .get()
        #expect(url.user == "app@ops")
        #expect(url.password == "ab%41:x")
        #expect(url.database == "hdp retry")
        #expect(url.host == "db.example" && url.port == 6432 && url.sslMode == .require)
    }

    @Test("defaults: port 5432, host localhost, TLS preferred; a socket folder with host=")
    func defaults() throws {
        let plain = try PostgresURL.parse("postgresql://app@/hdp").get()
        #expect(plain.host == "localhost" && plain.port == 5432 && plain.sslMode == .prefer && plain.password == nil)
        let socket = try PostgresURL.parse("postgres://app@localhost/hdp?host=/var/run/postgresql").get()
        #expect(socket.socketDirectory == "/var/run/postgresql")
    }

    @Test(
        "a URL that does not read is refused without repeating it",
        arguments: [
            "mysql://app:s3cretpw@db/hdp", "postgres://:s3cretpw@db/hdp", "postgres://app:s3cretpw@db/",
            "postgres://app:s3cretpw@db/hdp?sslmode=verify", "postgres://app:s3cretpw@db/hdp?sslrootcert=",
            "postgres://app:s3cretpw@db/hdp?sslcert=/x",
        ])
    func refused(_ text: String) {
        guard case .failure(let problem) = PostgresURL.parse(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(!problem.description.contains("s3cretpw"))
        #expect(!problem.description.isEmpty)
    }

    @Test("the URL as logs show it holds neither user nor password")
    func redacted() throws {
        let url = try PostgresURL.parse("postgres://app:s3cretpw@db.example:5432/hdp").get()
        #expect(url.redacted == "postgres://…@db.example:5432/hdp")
        #expect("\(url)" == url.redacted)
    }

    @Test("sslmode verify-ca and verify-full, and sslrootcert naming the CA file to trust")
    func tlsModes() throws {
        let full = try PostgresURL.parse("postgres://app@db/hdp?sslmode=verify-full&sslrootcert=/etc/ca.pem").get()
        #expect(full.sslMode == .verifyFull && full.rootCertificatePath == "/etc/ca.pem")
        #expect(try PostgresURL.parse("postgres://app@db/hdp?sslmode=verify-ca").get().sslMode == .verifyCA)
        #expect(try PostgresURL.parse("postgres://app@db/hdp").get().rootCertificatePath == nil)
    }

    @Test("a tool on a database that does not answer gives up within the deadline instead of waiting for ever")
    func unreachableToolsGiveUp() async throws {
        var settings = PostgresStoreSettings(
            url: try PostgresURL.parse("postgres://app@127.0.0.1:1/hdp?sslmode=disable").get())
        settings.transactionTimeout = .seconds(1)
        let started = ContinuousClock.now
        await #expect(throws: PostgresStore.Unreachable.self) {
            try await PostgresStore.withRunning(settings, logger: silentLogger) { _ in }
        }
        // The deadline is 1 s. The bound shows that it gave up instead of waiting for ever, with
        // room for a run whose other suites keep the cooperative threads busy for seconds (the
        // rules loader's random-input tests do, on two cores), so that its timer fires late.
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}
