import Foundation
import Logging
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal

/// An HDP whose task list the test writes: pages cut from ``items`` as HDP would serve them,
/// failures or bodies forced per page, and every list call recorded. Status checks and retries go
/// to a ``ScriptedHDPClient`` (still failed, accepted).
final class ListingHDPClient: HDPClient {
    struct State {
        var items: [String] = []
        var forced: [Int: HDPListOutcome] = [:]
        var calls: [(page: Int, perPage: Int, search: String?)] = []
        var inFlight = 0
        var mostInFlight = 0
        /// The most items a page holds, whatever was asked for (an API with a cap of its own).
        var cap = Int.max
    }

    let state = Mutex(State())
    let scripted = ScriptedHDPClient()
    /// Called before a list call answers (a test holds a sweep in the middle with it).
    let beforeAnswer: @Sendable (Int) async -> Void

    init(beforeAnswer: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.beforeAnswer = beforeAnswer
    }

    /// Lists `task` with `status` as last updated at `updatedAt`, after the tasks listed so far.
    func list(
        _ task: TaskID, status: String = "AtlanticProvingFailed", error: String? = "prover timeout", at updatedAt: Date?
    ) {
        var members = [#""id":"\#(task.rawValue)""#, #""status":"\#(status)""#]
        if let error { members.append(#""errorMessage":"\#(error)""#) }
        if let updatedAt { members.append(#""updatedAt":"\#(ISO8601.format(updatedAt))""#) }
        state.withLock { $0.items.append("{" + members.joined(separator: ",") + "}") }
    }

    func force(page: Int, _ outcome: HDPListOutcome) { state.withLock { $0.forced[page] = outcome } }

    var pagesAsked: [Int] { state.withLock { $0.calls.map(\.page) } }
    /// How many sweeps began: calls for page 1.
    var firstPages: Int { pagesAsked.count { $0 == 1 } }
    var mostInFlight: Int { state.withLock { $0.mostInFlight } }

    func listTasks(page: Int, perPage: Int, search: String?) async -> HDPListOutcome {
        state.withLock { state in
            state.calls.append((page, perPage, search))
            state.inFlight += 1
            state.mostInFlight = max(state.mostInFlight, state.inFlight)
        }
        await beforeAnswer(page)
        return state.withLock { state in
            state.inFlight -= 1
            if let forced = state.forced[page] { return forced }
            let size = min(perPage, state.cap)
            let start = min(state.items.count, (page - 1) * size)
            let slice = state.items[start..<min(state.items.count, start + size)]
            return .page(Array(#"{"tasks":[\#(slice.joined(separator: ","))],"page":\#(page)}"#.utf8))
        }
    }

    func status(of task: TaskID) async -> HDPStatusOutcome { await scripted.status(of: task) }
    func retry(_ task: TaskID) async -> HDPCallOutcome { await scripted.retry(task) }
}

/// Reconciliation sweeps through the real engine and journal (or an in-memory store) against a
/// task list the test writes, on a manual clock.
@Suite("Reconcile sweep")
struct ReconcileSweepTests {
    static let tasks = (0..<12).map { TaskID(String(format: "01JPJ03YJT1A93D6NF56G4GV%02d", $0))! }

    static func settings(perPage: Int = 2, maxPages: Int = 20) -> ReconcileSettings {
        var settings = ReconcileSettings()
        settings.perPage = perPage
        settings.maxPages = maxPages
        settings.interval = .seconds(60)
        return settings
    }

    static func sweep(
        _ client: some HDPClient, clock: any AgentClock, settings: ReconcileSettings = settings()
    ) -> ReconcileSweep {
        ReconcileSweep(settings: settings, client: client, clock: clock, logger: silentLogger)
    }

    static func deliveries(_ records: [JournalRecord], of task: TaskID) -> [DeliveryRecord] {
        records.compactMap { record in
            guard record.task == task, case .delivery(let delivery) = record.body else { return nil }
            return delivery
        }
    }

    @Test("missed failures go down the delivery path with source reconcile; the others are left alone")
    func missedFailuresAreDelivered() async throws {
        try await withEngine { harness in
            let now = harness.clock.now
            let client = ListingHDPClient()
            let (missed, received, open, old) = (Self.tasks[0], Self.tasks[1], Self.tasks[2], Self.tasks[3])
            client.list(missed, at: now.addingTimeInterval(-60))
            client.list(received, status: "Received", error: nil, at: now)
            client.list(open, at: now.addingTimeInterval(-30))
            client.list(old, at: now.addingTimeInterval(-86_401))
            client.list(Self.tasks[4], at: nil)
            _ = try await harness.engine.accept(
                DeliveryInput(
                    notice: notice(open, timestamp: now.addingTimeInterval(-30)), deliveryID: "msg_open",
                    correlationID: "c"))

            let reconciler = Reconciler(
                sweep: Self.sweep(client, clock: harness.clock), target: EngineSweepTarget(engine: harness.engine),
                metrics: harness.metrics.reconcile, logger: silentLogger)
            let report = await reconciler.runOneSweep()
            #expect(report.result == .ok && report.stop == .lastPage)
            #expect(client.pagesAsked == [1, 2, 3])
            #expect(report.listed == 5 && report.failedTasks == 4 && report.found == 1)
            #expect(
                report.verdicts == [.missed: 1, .notFailed: 1, .openEpisode: 1, .tooOld: 1, .noTime: 1])
            #expect(report.findings.map(\.task) == [missed, open, old, Self.tasks[4]])

            let records = try harness.recordsOnDisk()
            let delivery = try #require(Self.deliveries(records, of: missed).first)
            #expect(delivery.source == .reconcile)
            #expect(
                delivery.deliveryID.description
                    == "reconcile:\(missed.rawValue):\(ISO8601.format(now.addingTimeInterval(-60)))")
            #expect(delivery.decision == .retryScheduled && delivery.rule == "transient")
            #expect(delivery.noticeTime == now.addingTimeInterval(-60))
            #expect(Self.deliveries(records, of: open).map(\.source) == [.webhook])
            #expect(Self.deliveries(records, of: old).isEmpty && Self.deliveries(records, of: received).isEmpty)

            let metrics = MetricsScrapeTests.Exposition(harness.metrics.exposition()).samples
            #expect(metrics[#"hdp_retry_reconcile_sweeps_total{result="ok"}"#] == 1)
            #expect(metrics["hdp_retry_reconcile_found_total"] == 1)
            #expect(metrics["hdp_retry_reconcile_list_calls_total"] == 3)
            #expect(metrics["hdp_retry_reconcile_last_success_timestamp_seconds"] == now.timeIntervalSince1970)
            #expect(metrics[#"hdp_retry_decisions_total{action="retry",rule="transient"}"#] == 2)
        }
    }

    @Test("the next sweep does not double a failure it found, nor one whose webhook came meanwhile")
    func sweepsNeverDouble() async throws {
        try await withEngine { harness in
            let now = harness.clock.now
            let client = ListingHDPClient()
            for task in Self.tasks.prefix(3) { client.list(task, at: now.addingTimeInterval(-10)) }
            let sweep = Self.sweep(client, clock: harness.clock)
            let target = EngineSweepTarget(engine: harness.engine)
            #expect(await sweep.run(against: target).found == 3)
            harness.clock.advance(by: 60)
            let again = await sweep.run(against: target)
            #expect(again.found == 0 && again.verdicts == [.openEpisode: 3])
            let records = try harness.recordsOnDisk()
            #expect(records.count == 3)
        }
    }

    @Test("a missed failure and its late webhook: coalesced while the episode is open, stale after the retry")
    func lateWebhook() async throws {
        let store = MemoryStore()
        let clock = ManualClock()
        let client = ListingHDPClient()
        let engine = RetryEngine(
            store: store, breaker: .closed, settings: EngineSettings(), clock: clock, metrics: nil,
            logger: silentLogger,
            jitter: { 0.5 }, classify: simpleClassifier)
        let task = Self.tasks[0]
        let failedAt = clock.now.addingTimeInterval(-120)
        client.list(task, at: failedAt)
        let sweep = Self.sweep(client, clock: clock)
        #expect(await sweep.run(against: EngineSweepTarget(engine: engine)).found == 1)

        func webhook(_ id: String) async throws -> DeliveryRecord? {
            let input = DeliveryInput(notice: notice(task, timestamp: failedAt), deliveryID: id, correlationID: id)
            guard case .accepted(let record, _, _) = try await engine.accept(input) else { return nil }
            return record
        }
        #expect(try await webhook("msg_late_1")?.decision == .coalesced)
        clock.advance(by: 10)
        let (run, _) = await engine.claim()
        for admitted in run { await engine.run(admitted, client: client) }
        #expect(client.scripted.retries(of: task) == 1)
        #expect(await store.ledger.tasks[task]?.state == .ended(.retried))
        let late = try await webhook("msg_late_2")
        #expect(late?.decision == .ignored && late?.reason == .stale)
        // HDP lists the task as failed still (a stale list): the sweep leaves it alone.
        #expect(await sweep.run(against: EngineSweepTarget(engine: engine)).verdicts == [.stale: 1])
        clock.advance(by: 3600)
        let (more, _) = await engine.claim()
        #expect(more.isEmpty)
        #expect(client.scripted.retries(of: task) == 1)
    }

    @Test("an API that serves fewer than asked for, or a list shorter than a page: paged to an empty or shorter page")
    func shortPages() async throws {
        let clock = ManualClock()
        let client = ListingHDPClient()
        for task in Self.tasks.prefix(7) { client.list(task, status: "Received", error: nil, at: clock.now) }
        client.state.withLock { $0.cap = 3 }
        let target = LedgerSweepTarget(
            ledger: Ledger(dedupWindow: .seconds(86_400)), dispatch: DispatchSettings(), clock: clock,
            classify: simpleClassifier)
        let capped = await Self.sweep(client, clock: clock, settings: Self.settings(perPage: 10)).run(against: target)
        #expect(capped.stop == .lastPage && capped.pages == 3 && capped.listed == 7)
        client.state.withLock { $0.cap = .max }
        let small = await Self.sweep(client, clock: clock, settings: Self.settings(perPage: 10)).run(against: target)
        #expect(small.stop == .lastPage && small.pages == 2 && small.listed == 7)
        #expect(client.pagesAsked == [1, 2, 3, 1, 2])
    }

    @Test("paging stops at reconcile.max_pages, and at the first shorter page")
    func pagingIsBounded() async throws {
        let clock = ManualClock()
        let client = ListingHDPClient()
        for task in Self.tasks.prefix(10) { client.list(task, status: "Received", error: nil, at: clock.now) }
        let target = LedgerSweepTarget(
            ledger: Ledger(dedupWindow: .seconds(86_400)), dispatch: DispatchSettings(), clock: clock,
            classify: simpleClassifier)
        let bounded = await Self.sweep(client, clock: clock, settings: Self.settings(perPage: 2, maxPages: 3))
            .run(against: target)
        #expect(bounded.stop == .maxPages && bounded.result == .ok)
        #expect(client.pagesAsked == [1, 2, 3] && bounded.pages == 3 && bounded.listed == 6)

        let whole = await Self.sweep(client, clock: clock, settings: Self.settings(perPage: 4, maxPages: 20))
            .run(against: target)
        #expect(whole.stop == .lastPage && whole.pages == 3 && whole.listed == 10)
        #expect(client.state.withLock { $0.calls.suffix(3).map(\.perPage) } == [4, 4, 4])
    }

    @Test(
        "a failed list call or an unreadable page ends the sweep once; what was read before is kept",
        arguments: [
            (
                HDPListOutcome.failure(.serverError(httpStatus: 503)), SweepReport.Stop.listFailed,
                "page 2: HDP answered 503"
            ),
            (.failure(.timeout), .listFailed, "page 2: no answer within hdp.timeout"),
            (.page(Array("<html>".utf8)), .unreadablePage, "page 2: the task list is not JSON"),
        ])
    func failingPage(outcome: HDPListOutcome, stop: SweepReport.Stop, problem: String) async throws {
        try await withEngine { harness in
            let client = ListingHDPClient()
            for task in Self.tasks.prefix(6) { client.list(task, at: harness.clock.now) }
            client.force(page: 2, outcome)
            let reconciler = Reconciler(
                sweep: Self.sweep(client, clock: harness.clock), target: EngineSweepTarget(engine: harness.engine),
                metrics: harness.metrics.reconcile, logger: silentLogger)
            let report = await reconciler.runOneSweep()
            #expect(report.stop == stop && report.result == .failed)
            #expect(report.problem?.hasPrefix(problem) == true)
            #expect(client.pagesAsked == [1, 2])
            #expect(report.found == 2)
            let metrics = MetricsScrapeTests.Exposition(harness.metrics.exposition()).samples
            #expect(metrics[#"hdp_retry_reconcile_sweeps_total{result="failed"}"#] == 1)
            #expect(metrics[#"hdp_retry_reconcile_sweeps_total{result="ok"}"#] == 0)
            #expect(metrics["hdp_retry_reconcile_last_success_timestamp_seconds"] == 0)
        }
    }

    @Test("no list call while the breaker is open: the sweep is skipped")
    func breakerOpenSkips() async throws {
        let clock = ManualClock()
        let client = ListingHDPClient()
        client.list(Self.tasks[0], at: clock.now)
        let engine = RetryEngine(
            store: MemoryStore(),
            breaker: BreakerSnapshot(state: .open, openUntil: clock.now.addingTimeInterval(30), trips: 1),
            settings: EngineSettings(), clock: clock, metrics: nil, logger: silentLogger, classify: simpleClassifier)
        let report = await Self.sweep(client, clock: clock).run(against: EngineSweepTarget(engine: engine))
        #expect(report.stop == .breakerOpen && report.result == .skipped && report.pages == 0)
        #expect(client.pagesAsked.isEmpty)
        clock.advance(by: 30)
        #expect(await Self.sweep(client, clock: clock).run(against: EngineSweepTarget(engine: engine)).found == 1)
    }

    @Test("list calls wait for tokens of the retries' rate limit")
    func rateLimitPacesPages() async throws {
        let clock = ManualClock()
        let client = ListingHDPClient()
        for task in Self.tasks.prefix(5) { client.list(task, status: "Received", error: nil, at: clock.now) }
        var settings = EngineSettings()
        settings.dispatch.ratePerSecond = 1
        settings.dispatch.burst = 1
        let engine = RetryEngine(
            store: MemoryStore(), breaker: .closed, settings: settings, clock: clock, metrics: nil,
            logger: silentLogger,
            classify: simpleClassifier)
        let sweep = Self.sweep(client, clock: clock)
        try await withThrowingTaskGroup(of: SweepReport.self) { group in
            group.addTask { await sweep.run(against: EngineSweepTarget(engine: engine)) }
            for expected in 1...3 {
                // Each page after the first waits, asleep on the clock, for the next token.
                try await waitUntil { client.pagesAsked.count == expected && clock.sleepers == (expected < 3 ? 1 : 0) }
                #expect(client.pagesAsked.count == expected)
                clock.advance(by: 1)
            }
            let report = try await group.next()
            #expect(report?.pages == 3 && report?.stop == .lastPage)
        }
    }

    @Test("periodic sweeps at start and every interval; a request gets a sweep begun after it; never two at once")
    func reconcilerSchedulesAndNeverOverlaps() async throws {
        let clock = ManualClock()
        let gate = Gate()
        let client = ListingHDPClient { page in if page == 1 { await gate.pass() } }
        for task in Self.tasks.prefix(3) { client.list(task, at: clock.now) }
        let engine = RetryEngine(
            store: MemoryStore(), breaker: .closed, settings: EngineSettings(), clock: clock, metrics: nil,
            logger: silentLogger, classify: simpleClassifier)
        let metrics = AgentMetrics(version: "test")
        let reconciler = Reconciler(
            sweep: Self.sweep(client, clock: clock), target: EngineSweepTarget(engine: engine),
            metrics: metrics.reconcile, logger: silentLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await reconciler.run() }
            // The sweep at start is held on its first page; a request comes in meanwhile.
            try await waitUntil { client.pagesAsked == [1] }
            let answer = Mutex<Reconciler.RequestOutcome?>(nil)
            group.addTask {
                let outcome = await reconciler.requestSweep()
                answer.withLock { $0 = outcome }
            }
            try await Task.sleep(for: .milliseconds(50))
            #expect(client.pagesAsked == [1])
            gate.open()
            // The request is answered by a second sweep, begun after the first ended.
            try await waitUntil { answer.withLock { $0 } != nil }
            guard case .swept(let report) = answer.withLock({ $0 }) else {
                Issue.record("no report")
                return
            }
            #expect(client.pagesAsked == [1, 2, 1, 2])
            #expect(report.verdicts == [.openEpisode: 3])
            #expect(client.mostInFlight == 1)
            // The next periodic sweep is due an interval after the last one began.
            clock.advance(by: 59)
            try await Task.sleep(for: .milliseconds(50))
            #expect(client.firstPages == 2)
            clock.advance(by: 1)
            try await waitUntil { client.pagesAsked == [1, 2, 1, 2, 1, 2] }
            group.cancelAll()
        }
        let samples = MetricsScrapeTests.Exposition(metrics.exposition()).samples
        #expect(samples[#"hdp_retry_reconcile_sweeps_total{result="ok"}"#] ?? 0 >= 3)
        #expect(samples["hdp_retry_reconcile_interval_seconds"] == 60)
        #expect(await reconciler.requestSweep() == .stopping)
    }

    @Test("the dry run decides with the rules and changes nothing")
    func dryRunTarget() async throws {
        let clock = ManualClock()
        var ledger = Ledger(dedupWindow: .seconds(86_400))
        let client = ListingHDPClient()
        let (retry, giveUp, open) = (Self.tasks[0], Self.tasks[1], Self.tasks[2])
        client.list(retry, at: clock.now)
        client.list(giveUp, status: "TaskDecommitmentFailed", error: "results missing", at: clock.now)
        client.list(open, at: clock.now.addingTimeInterval(-5))
        guard
            case .record(let record) = ledger.decide(
                DeliveryInput(notice: notice(open), deliveryID: "m", correlationID: "c"), now: clock.now, jitter: 0.5,
                classify: simpleClassifier)
        else { return }
        ledger.apply(JournalRecord(seq: 1, time: clock.now, task: open, body: .delivery(record)))
        let target = LedgerSweepTarget(
            ledger: ledger, dispatch: DispatchSettings(), clock: clock, classify: simpleClassifier)
        let report = await Self.sweep(client, clock: clock).run(against: target)
        let decisions = report.findings.map { finding -> String in
            guard case .accepted(let record, _, _) = finding.answer else { return finding.verdict.rawValue }
            return record.decision.rawValue
        }
        #expect(decisions == ["retry_scheduled", "gave_up", "open_episode"])
        // Run again: the same, since nothing was recorded.
        #expect(await Self.sweep(client, clock: clock).run(against: target).found == 2)
        let text = ReconcileDryRun.Outcome(
            report: report, journalPath: "j.jsonl", journalRecords: 1, breaker: .closed, settings: Self.settings()
        ).text
        #expect(
            text.hasPrefix(
                "reconcile --dry-run: 2 pages of GET /tasks (per_page 2), 3 tasks, 3 failed: 2 would be picked up"))
        #expect(text.contains("retry (rule transient)"))
        #expect(text.contains("give up (rule decommitment)"))
        #expect(text.hasSuffix("0 not failed; lookback 24h; journal j.jsonl (1 records); breaker closed"))
    }
}

/// Holds whoever calls ``pass()`` until ``open()``.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func pass() async {
        await withCheckedContinuation { continuation in
            let proceed = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Polls `condition` every few milliseconds for up to 10 s; throws when it never held.
func waitUntil(_ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    if await condition() { return }
    throw HarnessError(description: "the condition never held")
}
