import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal

/// `POST /-/reconcile` and the task view's `source`.
@Suite("Reconcile admin")
struct ReconcileAdminTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func report(stop: SweepReport.Stop) -> SweepReport {
        var report = SweepReport(stop: stop, startedAt: start, finishedAt: start.addingTimeInterval(0.0421))
        report.pages = 1
        report.listed = 3
        report.verdicts = [.missed: 1, .notFailed: 1, .alreadyDecided: 1]
        let record = DeliveryRecord(
            deliveryID: "reconcile:\(sampleTask.rawValue):2027-01-15T08:00:00.000Z", correlationID: "c",
            status: "TraceGenFailed", error: "rpc timeout", noticeTime: start, decision: .retryScheduled, reason: .rule,
            rule: "transient", schedule: nil, source: .reconcile)
        report.findings = [
            SweepReport.Finding(
                task: sampleTask, status: "TraceGenFailed", error: "rpc timeout", updatedAt: start, verdict: .missed,
                deliveryID: "reconcile:\(sampleTask.rawValue):2027-01-15T08:00:00.000Z",
                answer: .accepted(record, task: sampleTask, attempt: 1))
        ]
        return report
    }

    static func app(
        token: String? = nil, reconcile: (@Sendable () async -> Reconciler.RequestOutcome?)?
    ) -> some ApplicationProtocol {
        let router = Router()
        AdminRoutes(
            engine: { nil }, metrics: AgentMetrics(version: "test"), readiness: Readiness(), reload: nil,
            token: token, reconcile: reconcile
        ).register(on: router)
        return Application(router: router)
    }

    @Test("POST /-/reconcile answers the sweep's report as JSON, behind the admin token")
    func answersTheReport() async throws {
        let report = Self.report(stop: .lastPage)
        try await Self.app(token: "s3cret", reconcile: { .swept(report) }).test(.router) { client async throws in
            #expect(try await client.execute(uri: "/-/reconcile", method: .post).status == .unauthorized)
            let response = try await client.execute(
                uri: "/-/reconcile", method: .post, headers: [.authorization: "Bearer s3cret"])
            #expect(response.status == .ok)
            let json = try JSONValue.parse(Array(buffer: response.body))
            #expect(json["result"] == .string("ok") && json["stop"] == .string("last_page"))
            #expect(json["seconds"] == .number(0.042) && json["found"] == .number(1))
            #expect(json["failed_tasks"] == .number(2))
            #expect(json[path: "verdicts.already_decided"] == .number(1))
            #expect(json[path: "tasks.0.task_id"] == .string(sampleTask.rawValue))
            #expect(json[path: "tasks.0.verdict"] == .string("missed"))
            #expect(json[path: "tasks.0.decision"] == .string("retry_scheduled"))
            #expect(json[path: "tasks.0.rule"] == .string("transient"))
            #expect(
                json[path: "tasks.0.delivery_id"]
                    == .string("reconcile:\(sampleTask.rawValue):2027-01-15T08:00:00.000Z"))
            #expect(try await client.execute(uri: "/-/reconcile", method: .get).status == .methodNotAllowed)
        }
    }

    @Test(
        "a failed sweep is 502, a skipped one or a stopping agent 503, before the replay 503",
        arguments: [
            (SweepReport.Stop.listFailed, HTTPResponse.Status.badGateway), (.unreadablePage, .badGateway),
            (.breakerOpen, .serviceUnavailable), (.journalUnavailable, .serviceUnavailable), (.maxPages, .ok),
        ])
    func statuses(stop: SweepReport.Stop, status: HTTPResponse.Status) async throws {
        let report = Self.report(stop: stop)
        try await Self.app(reconcile: { .swept(report) }).test(.router) { client async throws in
            #expect(try await client.execute(uri: "/-/reconcile", method: .post).status == status)
        }
        try await Self.app(reconcile: { .stopping }).test(.router) { client async throws in
            let response = try await client.execute(uri: "/-/reconcile", method: .post)
            #expect(response.status == .serviceUnavailable && response.headers[.retryAfter] == "30")
        }
        try await Self.app(reconcile: { nil }).test(.router) { client async throws in
            #expect(try await client.execute(uri: "/-/reconcile", method: .post).status == .serviceUnavailable)
        }
    }

    @Test("the task view says where each delivery came from")
    func taskViewShowsTheSource() async throws {
        try await withEngine { harness in
            let failedAt = harness.clock.now.addingTimeInterval(-30)
            let listed = ListedTask(
                taskID: sampleTask, status: "AtlanticProvingFailed", error: "prover timeout", updatedAt: failedAt,
                item: .object(["id": .string(sampleTask.rawValue)]))
            _ = try await harness.engine.accept(try #require(Reconciliation.delivery(for: listed, correlationID: "c1")))
            _ = try await harness.engine.accept(
                DeliveryInput(notice: notice(timestamp: failedAt), deliveryID: "msg_late", correlationID: "c2"))
            let view = try #require(await harness.store.view(of: sampleTask))
            let answer = TaskAnswer(task: view.task, entry: view.entry, history: view.history)
            let history = try #require(answer.history)
            #expect(history.map { $0[path: "data.source"] } == [.string("reconcile"), .string("webhook")])
            #expect(history.map { $0[path: "data.decision"] } == [.string("retry_scheduled"), .string("coalesced")])
        }
    }
}
