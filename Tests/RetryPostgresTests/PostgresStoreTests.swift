import Foundation
import PostgresNIO
import RetryCore
import RetryJournal
import RetryTesting
import Testing

@testable import RetryPostgres

/// The PostgreSQL store against a real server (`HDP_RETRY_TEST_DATABASE_URL`), each test in a
/// database of its own.
@Suite(
    "PostgresStore", .serialized,
    .enabled(if: TestDatabase.isConfigured, TestDatabase.skipReason)
)
struct PostgresStoreTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A delivery of `task` under `id`, decided by the pure decision code as the engine does.
    static func deliver(
        _ store: any RetryStore, task: TaskID, id: String, at now: Date = start, status: String = "TraceGenFailed",
        timestamp: Date? = nil
    ) async throws -> DeliveryAnswer {
        let input = DeliveryInput(
            notice: notice(task, status: status, timestamp: timestamp), deliveryID: id, correlationID: "c-\(id)")
        return try await store.recordDelivery(input, now: now) { seen, entry in
            Decisions.delivery(input, seen: seen, entry: entry, now: now, jitter: 0, classify: simpleClassifier)
        }
    }

    static func task(_ number: Int) -> TaskID {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var value = number
        var digits: [Character] = []
        for _ in 0..<10 {
            digits.append(alphabet[value % 32])
            value /= 32
        }
        return TaskID("01JPJ03YJT1A93D6" + String(digits.reversed()))!
    }

    @Test("migrations run once when several agents start together, and again change nothing")
    func migrationsOnceUnderConcurrency() async throws {
        try await TestDatabase.withFresh(migrate: false) { settings in
            let applied = try await TestDatabase.withStores(settings, owners: ["a", "b", "c", "d"]) { stores in
                try await withThrowingTaskGroup(of: [Int].self) { group in
                    for store in stores { group.addTask { try await store.migrate() } }
                    var all: [[Int]] = []
                    for try await result in group { all.append(result) }
                    return all
                }
            }
            #expect(applied.filter { !$0.isEmpty } == [Array(1...PostgresSchema.latestVersion)])
            #expect(applied.filter(\.isEmpty).count == 3)
            let again = try await PostgresStore.withRunning(settings, logger: silentLogger) { try await $0.migrate() }
            #expect(again.isEmpty)
        }
    }

    @Test("a delivery is decided, its row written and its record journaled with the file journal's JSON")
    func deliveryJournaled() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a"]) { stores in
                let store = stores[0]
                let answer = try await Self.deliver(store, task: sampleTask, id: "msg_1")
                guard case .accepted(let record, let task, let attempt) = answer else {
                    Issue.record("not accepted: \(answer)")
                    return
                }
                #expect(task == sampleTask && attempt == 1 && record.decision == .retryScheduled)
                let view = try #require(await store.view(of: sampleTask))
                #expect(view.entry.state == .pending)
                #expect(view.entry.episode?.schedule.due == Self.start.addingTimeInterval(10))
                #expect(view.history.count == 1)
                // The same record the file store would have written, byte for byte.
                let written = try #require(view.history.first)
                #expect(written.body == .delivery(record))
                var lines: [String] = []
                try await TestDatabase.admin(settings.url) { client in
                    for try await line in try await client.query("SELECT line FROM hdp_retry_journal").decode(
                        String.self)
                    {
                        lines.append(line)
                    }
                }
                #expect(lines == [TaskRow.line(written)])
                // The duplicate is answered from the dedup table.
                let again = try await Self.deliver(store, task: sampleTask, id: "msg_1")
                guard case .duplicate(let seen) = again else {
                    Issue.record("not a duplicate: \(again)")
                    return
                }
                #expect(seen.decision == .retryScheduled && seen.task == sampleTask)
            }
        }
    }

    @Test("the same deliveries sent to two agents at once: each is accepted exactly once")
    func dedupAcrossAgents() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a", "b"]) { stores in
                let answers = try await withThrowingTaskGroup(of: (Int, DeliveryAnswer).self) { group in
                    for number in 0..<60 {
                        for store in stores {
                            group.addTask {
                                (
                                    number,
                                    try await Self.deliver(store, task: Self.task(number % 20), id: "msg_\(number)")
                                )
                            }
                        }
                    }
                    var all: [(Int, DeliveryAnswer)] = []
                    for try await answer in group { all.append(answer) }
                    return all
                }
                for number in 0..<60 {
                    let mine = answers.filter { $0.0 == number }.map(\.1)
                    let accepted = mine.filter { if case .accepted = $0 { true } else { false } }
                    #expect(accepted.count == 1, "delivery \(number): \(mine)")
                }
                // 20 tasks, 3 deliveries each: one opened the episode, the others joined it.
                for number in 0..<20 {
                    let view = try #require(await stores[0].view(of: Self.task(number)))
                    let decisions = view.history.compactMap { record -> DeliveryDecision? in
                        if case .delivery(let delivery) = record.body { delivery.decision } else { nil }
                    }
                    #expect(
                        decisions.sorted { $0.rawValue < $1.rawValue } == [.coalesced, .coalesced, .retryScheduled])
                    #expect(view.history.map(\.seq) == view.history.map(\.seq).sorted())
                }
            }
        }
    }

    @Test("concurrent deliveries for one task are decided one after the other, in one batch or many")
    func oneTaskSerialised() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a", "b"]) { stores in
                try await withThrowingTaskGroup(of: DeliveryAnswer.self) { group in
                    for number in 0..<40 {
                        group.addTask { try await Self.deliver(stores[number % 2], task: sampleTask, id: "m\(number)") }
                    }
                    for try await _ in group {}
                }
                let view = try #require(await stores[1].view(of: sampleTask))
                let decisions = view.history.compactMap { record -> DeliveryDecision? in
                    if case .delivery(let delivery) = record.body { delivery.decision } else { nil }
                }
                #expect(decisions.count == 40)
                #expect(decisions.first == .retryScheduled)
                #expect(decisions.dropFirst().allSatisfy { $0 == .coalesced })
                #expect(view.entry.state == .pending)
            }
        }
    }

    @Test("a claimed task is nobody else's until its lease runs out; then it is taken over as interrupted")
    func claimsAndLeases() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a", "b"]) { stores in
                let (a, b) = (stores[0], stores[1])
                _ = try await Self.deliver(a, task: sampleTask, id: "msg_1")
                let due = Self.start.addingTimeInterval(10)
                #expect(await a.claimDue(now: due.addingTimeInterval(-1), limit: 4).isEmpty)
                #expect(await a.nextDue() == due)
                let claimed = await a.claimDue(now: due, limit: 4)
                #expect(claimed.map(\.task) == [sampleTask])
                #expect(claimed.first?.interrupted == false)
                #expect(await b.claimDue(now: due, limit: 4).isEmpty)
                #expect(await b.nextDue() == nil)

                // A starts the attempt (committed before the call), then dies: its lease runs out.
                let started = try await a.update(sampleTask, now: due) { entry in
                    StoreUpdate(
                        records: [
                            .attemptStarted(AttemptStarted(attempt: 1, status: "TraceGenFailed", reclassified: nil))
                        ],
                        result: entry.attempts)
                }
                #expect(started == 0)
                try await TestDatabase.admin(settings.url) { client in
                    try await client.query(
                        "UPDATE hdp_retry_tasks SET lease_until = clock_timestamp() - interval '1 second'"
                    ).consume()
                }
                let takenOver = await b.claimDue(now: due, limit: 4)
                #expect(takenOver.map(\.task) == [sampleTask])
                #expect(takenOver.first?.interrupted == true)
                // A comes back: the task is B's now, and A's result is not recorded.
                let late = try await a.update(sampleTask, now: due) { _ in
                    StoreUpdate(
                        records: [
                            .attemptFinished(
                                AttemptFinished(
                                    call: .retry, result: .accepted, httpStatus: 200, detail: nil, nextDue: nil))
                        ], result: true)
                }
                #expect(late == nil)
                // B finishes it: the lease ends with the episode.
                let finished = try await b.update(sampleTask, now: due) { _ in
                    StoreUpdate(
                        records: [
                            .episodeEnded(
                                EpisodeEnded(
                                    outcome: .superseded, reason: .interruptedAttemptWentThrough, status: "Received",
                                    rule: "transient", countsAttempt: true))
                        ], result: true)
                }
                #expect(finished == true)
                let view = try #require(await a.view(of: sampleTask))
                #expect(view.entry.state == .ended(.superseded) && view.entry.attempts == 1)
                #expect(await a.claimDue(now: due.addingTimeInterval(3600), limit: 4).isEmpty)
            }
        }
    }

    @Test("an agent back after its lease ran out decides nothing, also once the agent that took over has let go")
    func aStaleClaimCannotStartAnAttempt() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a", "b"]) { stores in
                let (a, b) = (stores[0], stores[1])
                _ = try await Self.deliver(a, task: sampleTask, id: "msg_1")
                let due = Self.start.addingTimeInterval(10)
                #expect(await a.claimDue(now: due, limit: 4).map(\.task) == [sampleTask])
                // A checks the status, then stalls past its lease before starting the attempt.
                try await TestDatabase.admin(settings.url) { client in
                    try await client.query(
                        "UPDATE hdp_retry_tasks SET lease_until = clock_timestamp() - interval '1 second'"
                    ).consume()
                }
                // B takes the task over, starts an attempt whose outcome is unknown, and lets go.
                #expect(await b.claimDue(now: due, limit: 4).map(\.task) == [sampleTask])
                let attempt = AttemptStarted(attempt: 1, status: "TraceGenFailed", reclassified: nil)
                #expect(
                    try await b.update(sampleTask, now: due) { _ in
                        StoreUpdate(records: [.attemptStarted(attempt)], result: true)
                    } == true)
                let unknown = AttemptFinished(
                    call: .retry, result: .timeout, httpStatus: nil, detail: "timed out", nextDue: due,
                    outcomeUnknown: true)
                #expect(
                    try await b.update(sampleTask, now: due) { _ in
                        StoreUpdate(records: [.attemptFinished(unknown)], result: true)
                    } == true)
                // A comes back on its old status check: it must not start a second attempt.
                let stale = try await a.update(sampleTask, now: due) { _ in
                    StoreUpdate(records: [.attemptStarted(attempt)], result: true)
                }
                #expect(stale == nil)
                let view = try #require(await a.view(of: sampleTask))
                #expect(view.history.filter { $0.body.typeName == "attempt_started" }.count == 1)
            }
        }
    }

    @Test("a delivery stuck behind another session's lock on its task is refused within the deadline")
    func aLockedRowIsRefusedInTime() async throws {
        try await TestDatabase.withFresh { fresh in
            var settings = fresh
            settings.transactionTimeout = .seconds(2)
            try await TestDatabase.withStores(settings, owners: ["a"]) { stores in
                _ = try await Self.deliver(stores[0], task: sampleTask, id: "msg_1")
                let client = PostgresClient(
                    configuration: settings.url.clientConfiguration(poolSize: 1), backgroundLogger: silentLogger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await client.run() }
                    defer { group.cancelAll() }
                    try await client.withConnection { connection in
                        // Another session holds the task's row (a stuck transaction, a slow agent).
                        try await connection.query("BEGIN", logger: silentLogger).consume()
                        try await connection.query(
                            "SELECT 1 FROM hdp_retry_tasks WHERE task_id = \(sampleTask.rawValue) FOR UPDATE",
                            logger: silentLogger
                        ).consume()
                        // The delivery races a 15 s watchdog; the lock is let go when either ends,
                        // so a delivery that waited for the lock cannot hang the test.
                        enum Race: Sendable { case refused(Duration), taken, watchdog }
                        let first = await withTaskGroup(of: Race.self) { race in
                            race.addTask {
                                let started = ContinuousClock.now
                                do {
                                    _ = try await Self.deliver(stores[0], task: sampleTask, id: "msg_2")
                                    return .taken
                                } catch {
                                    return .refused(ContinuousClock.now - started)
                                }
                            }
                            race.addTask {
                                try? await Task.sleep(for: .seconds(15))
                                return .watchdog
                            }
                            let first = await race.next() ?? .watchdog
                            try? await connection.query("ROLLBACK", logger: silentLogger).consume()
                            race.cancelAll()
                            return first
                        }
                        // Each of the three tries gives up at the 2 s lock timeout.
                        guard case .refused(let waited) = first else {
                            Issue.record("the delivery was not refused while the row was locked: \(first)")
                            return
                        }
                        #expect(waited < .seconds(15))
                    }
                }
                // Once the lock is gone, the redelivery is taken.
                let again = try await Self.deliver(stores[0], task: sampleTask, id: "msg_2")
                #expect({ if case .accepted = again { true } else { false } }())
            }
        }
    }

    @Test("a database that cannot be reached refuses deliveries (503) within the deadline and shows as not ready")
    func unreachableDatabase() async throws {
        var settings = PostgresStoreSettings(url: try PostgresURL.parse("postgres://nobody@127.0.0.1:1/none").get())
        settings.transactionTimeout = .milliseconds(500)
        try await TestDatabase.withStores(settings, owners: ["a"]) { stores in
            let started = ContinuousClock.now
            await #expect(throws: StoreError.self) { try await Self.deliver(stores[0], task: sampleTask, id: "msg_1") }
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(!stores[0].isReachable)
            #expect(await stores[0].claimDue(now: Self.start, limit: 4).isEmpty)
            #expect(await stores[0].view(of: sampleTask) == nil)
        }
    }

    @Test("a released task can be claimed again at once")
    func releaseGivesBack() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a", "b"]) { stores in
                _ = try await Self.deliver(stores[0], task: sampleTask, id: "msg_1")
                let due = Self.start.addingTimeInterval(10)
                #expect(await stores[0].claimDue(now: due, limit: 1).count == 1)
                await stores[0].release([sampleTask])
                #expect(await stores[1].claimDue(now: due, limit: 1).map(\.task) == [sampleTask])
            }
        }
    }

    @Test("a breaker transition recorded by one agent is adopted by the others once")
    func breakerShared() async throws {
        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a", "b"]) { stores in
                let (a, b) = (stores[0], stores[1])
                #expect(await b.breakerSnapshot() == .closed)
                let open = BreakerSnapshot(state: .open, openUntil: Self.start.addingTimeInterval(30), trips: 1)
                await a.recordBreaker(open, now: Self.start)
                #expect(await b.sharedBreaker() == open)
                #expect(await a.sharedBreaker() == nil)  // its own transition
                #expect(await b.breakerSnapshot() == open)
                var machine = DispatchMachine(settings: DispatchSettings())
                let adopted = machine.adoptBreaker(open)
                #expect(adopted)
                #expect(machine.breaker.state == .open)
            }
        }
    }

    @Test("retention deletes ended tasks, their lines and old delivery ids; open episodes stay")
    func retention() async throws {
        try await TestDatabase.withFresh { settings in
            var settings = settings
            settings.retention = .seconds(3600)
            settings.dedupWindow = .seconds(3600)
            try await TestDatabase.withStores(settings, owners: ["a"]) { stores in
                let store = stores[0]
                _ = try await Self.deliver(store, task: Self.task(1), id: "open")
                _ = try await Self.deliver(store, task: Self.task(2), id: "ended", status: "TaskDecommitmentFailed")
                let later = Self.start.addingTimeInterval(7200)
                let deleted = await store.deleteExpired(now: later)
                #expect(deleted.tasks == 1 && deleted.deliveries == 2)
                #expect(await store.view(of: Self.task(2)) == nil)
                #expect(await store.view(of: Self.task(1))?.entry.state == .pending)
                // Past the window, the same id is new again.
                let again = try await Self.deliver(store, task: Self.task(2), id: "ended", at: later)
                guard case .accepted = again else {
                    Issue.record("not accepted: \(again)")
                    return
                }
            }
        }
    }

    @Test("a file journal imported and exported again is the same journal, and reads back to the same state")
    func exportImportRoundTrip() async throws {
        // A history made by the file store's own fold: deliveries, attempts, a breaker trip, and
        // a compaction snapshot in the middle (records that share a sequence number).
        let memory = MemoryStore()
        var now = Self.start
        for number in 0..<30 {
            _ = try await Self.deliver(memory, task: Self.task(number % 12), id: "d\(number)", at: now)
            now = now.addingTimeInterval(1)
        }
        now = now.addingTimeInterval(60)
        for item in await memory.claimDue(now: now, limit: 8) {
            _ = await memory.update(item.task, now: now) { entry in
                StoreUpdate(
                    records: [
                        .attemptStarted(AttemptStarted(attempt: entry.attempts + 1, status: "X", reclassified: nil))
                    ],
                    result: ())
            }
            _ = await memory.update(item.task, now: now) { _ in
                StoreUpdate(
                    records: [
                        .attemptFinished(
                            AttemptFinished(call: .retry, result: .accepted, httpStatus: 200, detail: nil, nextDue: nil)
                        )
                    ], result: ())
            }
        }
        await memory.recordBreaker(BreakerSnapshot(state: .open, openUntil: now, trips: 1), now: now)
        var bytes: [UInt8] = []
        let ledger = await memory.ledger
        for record in ledger.snapshotRecords(at: now) { bytes += JournalCodec.encode(record) }
        for record in await memory.records.suffix(5) {
            var later = record
            later.seq += ledger.lastSeq
            bytes += JournalCodec.encode(later)
        }
        var expected = Ledger(dedupWindow: .seconds(86_400))
        _ = JournalReader.scan(bytes) { expected.apply($0) }

        try await TestDatabase.withFresh { settings in
            try await TestDatabase.withStores(settings, owners: ["a"]) { stores in
                let store = stores[0]
                let report = try await store.importJournal(bytes)
                #expect(report.tasks == expected.tasks.count)
                await #expect(throws: PostgresStore.ImportError.self) { try await store.importJournal(bytes) }
                var exported: [UInt8] = []
                let count = try await store.exportJournal { exported += $0 }
                #expect(count == report.records)
                #expect(exported == bytes)
                var replayed = Ledger(dedupWindow: .seconds(86_400))
                _ = JournalReader.scan(exported) { replayed.apply($0) }
                #expect(replayed.tasks == expected.tasks)
                #expect(replayed.deliveries == expected.deliveries)
                #expect(replayed.breaker == expected.breaker)
                // The rows say the same as the journal.
                for (task, entry) in expected.tasks {
                    #expect(await store.view(of: task)?.entry == entry)
                }
                #expect(await store.breakerSnapshot() == expected.breaker)
                // New records go on after the imported ones.
                _ = try await Self.deliver(store, task: Self.task(99), id: "after", at: now)
                let view = try #require(await store.view(of: Self.task(99)))
                #expect((view.history.first?.seq ?? 0) > expected.lastSeq)
            }
        }
    }
}
