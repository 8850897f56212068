import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

@Suite struct AdminRoutesTests {
    static func app(readiness: Readiness = Readiness()) -> some ApplicationProtocol {
        let router = Router()
        AdminRoutes(
            engine: { nil }, metrics: AgentMetrics(version: "test"), readiness: readiness, reload: nil,
            token: nil
        ).register(on: router)
        return Application(router: router)
    }

    @Test func headAnswersLikeGetWithoutABody() async throws {
        try await Self.app().test(.router) { client async throws in
            let metrics = try await client.execute(uri: "/metrics", method: .head)
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.body.readableBytes == 0)
            #expect(try await client.execute(uri: "/healthz", method: .head).status == .ok)
            // Not ready yet (nothing replayed or loaded): HEAD says so like GET.
            #expect(try await client.execute(uri: "/readyz", method: .head).status == .serviceUnavailable)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
        }
    }

    @Test(arguments: [
        ("/metrics", HTTPRequest.Method.put, "GET, HEAD"), ("/healthz", .post, "GET, HEAD"),
        ("/-/reload", .get, "POST"), ("/tasks/01JPJ03YJT1A93D6NF56G4GVEQ", .delete, "GET"),
    ])
    func otherMethodsAre405WithAllow(path: String, method: HTTPRequest.Method, allow: String) async throws {
        try await Self.app().test(.router) { client in
            let response = try await client.execute(uri: path, method: method)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == allow)
        }
        // An unknown path is still 404.
        try await Self.app().test(.router) { client in
            let response = try await client.execute(uri: "/nothing", method: .get)
            #expect(response.status == .notFound)
        }
    }

    /// The scheme of `Authorization` is case-insensitive (RFC 9110 §11.1); before, `bearer` and
    /// `BEARER` were refused.
    @Test(arguments: [
        ("Bearer s3cret-token", true), ("bearer s3cret-token", true), ("BEARER s3cret-token", true),
        ("Bearer wrong", false), ("Basic s3cret-token", false), ("s3cret-token", false), ("", false),
    ])
    func bearerSchemeInAnyCase(header: String, allowed: Bool) {
        #expect(AdminRoutes.bearer(header, matches: "s3cret-token") == allowed)
    }
}
