import Dispatch
import Foundation
import Logging
import RetryTesting
import ServiceLifecycle
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal

#if canImport(Glibc)
import Glibc
#endif

/// Journal failures the audit found wedging or misleading the agent: a compaction that cannot be
/// written, an `interval` fsync that fails, a shutdown while nothing can be written, and a retry
/// call whose `attempt_started` is not on disk.
@Suite("Journal faults")
struct JournalFaultTests {
    /// A fault on one operation that the test switches on and off.
    final class Fault: Sendable {
        private let on = Mutex(false)
        private let hits = Mutex(0)
        let operation: JournalFaults.Operation
        let code: Int32

        init(_ operation: JournalFaults.Operation, code: Int32 = ENOSPC) {
            self.operation = operation
            self.code = code
        }

        var isOn: Bool {
            get { on.withLock { $0 } }
            set { on.withLock { $0 = newValue } }
        }

        var injected: Int { hits.withLock { $0 } }

        var faults: JournalFaults {
            JournalFaults { operation in
                guard operation == self.operation, self.isOn else { return nil }
                self.hits.withLock { $0 += 1 }
                return self.code
            }
        }
    }

    static func input(_ index: Int) -> DeliveryInput {
        let task = TaskID(String(format: "01JPJ03YJT1A93D6NF56G4%04d", index))!
        return DeliveryInput(notice: notice(task), deliveryID: "msg_\(index)", correlationID: "c\(index)")
    }

    /// The snapshot cannot be written (a full disk): every delivery is still acknowledged from
    /// its own append, the temporary file is given up, and compaction is tried again later and
    /// succeeds once there is room. Before, the failed snapshot stayed queued in front of the
    /// appends: every delivery was answered 503, and the temporary file rewritten on each try.
    @Test func aCompactionThatCannotBeWrittenDoesNotWedgeAppends() async throws {
        let fault = Fault(.replace)
        fault.isOn = true
        var settings = FileStore.Settings()
        settings.compactAboveBytes = 4096
        try await withEngine(storeSettings: settings, faults: fault.faults) { harness in
            for index in 0..<40 {
                guard case .accepted = try await harness.engine.accept(Self.input(index)) else {
                    Issue.record("delivery \(index) was not accepted")
                    return
                }
            }
            #expect(fault.injected >= 1)
            #expect(harness.writer.compactionFailures >= 1)
            // Tried once, then not again on every append while the back-off lasts.
            #expect(fault.injected <= 2)
            #expect(!FileManager.default.fileExists(atPath: harness.journalPath + ".compact.tmp"))
            #expect(try harness.recordsOnDisk().count == 40)

            // Room again, and the back-off over: the next append compacts.
            fault.isOn = false
            harness.clock.advance(by: FileStore.compactionRetryDelay.secondsDouble + 1)
            _ = try await harness.engine.accept(Self.input(40))
            #expect(
                await harness.eventually {
                    (try? harness.recordsOnDisk().first?.body.typeName) == "breaker"
                })
            #expect(try harness.recordsOnDisk().filter { $0.body.typeName == "task_snapshot" }.count == 41)
            var replayed = Ledger(dedupWindow: settings.dedupWindow)
            for record in try harness.recordsOnDisk() { replayed.apply(record) }
            let live = await harness.store.ledgerSnapshot
            #expect(replayed.tasks == live.tasks)
            #expect(Set(replayed.deliveries.keys) == Set(live.deliveries.keys))
        }
    }

    /// A compaction builds and writes its snapshot in the background: deliveries go on being
    /// acknowledged while it is being written, and the records written meanwhile follow the
    /// snapshot into the new file. Before, the snapshot was built on the store and written in the
    /// write loop, and every delivery waited for both (seconds, at 100 k tasks).
    @Test func deliveriesGoOnWhileACompactionIsWrittenAndNoneIsLost() async throws {
        let gate = DispatchSemaphore(value: 0)
        let waiting = Mutex(false)
        let faults = JournalFaults { operation in
            // The first snapshot is "being written" until the test releases it.
            guard operation == .replace, !waiting.withLock({ $0 }) else { return nil }
            waiting.withLock { $0 = true }
            _ = gate.wait(timeout: .now() + 20)
            return nil
        }
        var settings = FileStore.Settings()
        settings.compactAboveBytes = 4096
        try await withEngine(storeSettings: settings, faults: faults) { harness in
            for index in 0..<30 { _ = try await harness.engine.accept(Self.input(index)) }
            #expect(await harness.eventually { waiting.withLock { $0 } })
            #expect(harness.writer.isCompacting)
            // Held in the middle of writing the snapshot; deliveries are acknowledged regardless.
            for index in 30..<60 {
                guard case .accepted = try await harness.engine.accept(Self.input(index)) else {
                    Issue.record("delivery \(index) was not accepted during the compaction")
                    return
                }
            }
            gate.signal()
            #expect(await harness.eventually { !harness.writer.isCompacting })
            _ = try await harness.engine.accept(Self.input(60))  // the switch happens between batches
            #expect(await harness.eventually { harness.writer.lastSnapshotSize > 0 })
            let onDisk = try harness.recordsOnDisk()
            #expect(onDisk.first?.body.typeName == "breaker")
            var replayed = Ledger(dedupWindow: settings.dedupWindow)
            for record in onDisk { replayed.apply(record) }
            let live = await harness.store.ledgerSnapshot
            #expect(replayed.tasks.count == 61)
            #expect(replayed.tasks == live.tasks)
            #expect(Set(replayed.deliveries.keys) == Set(live.deliveries.keys))
            #expect(replayed.lastSeq == live.lastSeq)
        }
    }

    /// With `fsync: interval` a failed periodic fdatasync is a failing journal, as with `always`:
    /// counted, and deliveries answered 503 until a sync succeeds. Before, it was swallowed.
    @Test func aFailedIntervalFsyncRefusesDeliveriesUntilOneSucceeds() async throws {
        let fault = Fault(.fsync, code: EIO)
        let metrics = AgentMetrics(version: "test")
        try await withEngine(faults: fault.faults, policy: .interval, metrics: metrics) { harness in
            guard case .accepted = try await harness.engine.accept(Self.input(0)) else {
                Issue.record("not accepted")
                return
            }
            fault.isOn = true
            // The writer syncs once a second.
            #expect(await harness.eventually(within: 5) { harness.writer.isFailing })
            await #expect(throws: DeliveryRefusal(reason: .journalUnavailable)) {
                try await harness.engine.accept(Self.input(1))
            }
            #expect(metrics.exposition().containsSample("hdp_retry_journal_write_errors_total", atLeast: 1))
            fault.isOn = false
            #expect(await harness.eventually(within: 5) { !harness.writer.isFailing })
            guard case .accepted = try await harness.engine.accept(Self.input(2)) else {
                Issue.record("not accepted after the fsync recovered")
                return
            }
        }
    }

    /// SIGTERM while nothing can be written and a retry is due: the agent stops within its grace
    /// period, sends no retry whose start is not on disk, and says what it could not write.
    /// Before, the dispatcher waited for a durable `attempt_started` for ever, so the writer was
    /// never told to stop and the process never exited.
    @Test func aShutdownWhileTheJournalFailsEndsAndSaysWhatWasLost() async throws {
        let fault = Fault(.write)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try JournalFile(path: directory + "/journal.jsonl", faults: fault.faults)
        let writer = JournalWriter(file: file, policy: .always, durableSeq: 0, logger: silentLogger)
        let store = FileStore(
            ledger: Ledger(dedupWindow: .seconds(86_400)), file: file, writer: writer, settings: FileStore.Settings())
        let clock = ManualClock()
        var settings = EngineSettings()
        settings.dispatch.confirmStatus = false
        let engine = RetryEngine(
            store: store, breaker: .closed, settings: settings, clock: clock, metrics: nil, logger: silentLogger,
            jitter: { 0.5 }, classify: simpleClassifier)
        let client = ScriptedHDPClient()
        let dispatcher = Dispatcher(engine: engine, client: client, clock: clock, metrics: nil)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: writer), .init(service: dispatcher)], gracefulShutdownSignals: [],
                logger: silentLogger))
        let outcome = Outcome()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                do {
                    try await group.run()
                    outcome.set(.success(()))
                } catch {
                    outcome.set(.failure(error))
                }
            }
            _ = try await engine.accept(Self.input(0))
            fault.isOn = true
            clock.advance(by: 11)  // due: the dispatcher takes it, cannot make its start durable
            #expect(await Self.eventually { fault.injected > 0 })
            await group.triggerGracefulShutdown()
            let ended = await Self.eventually(within: 10) { outcome.value != nil }
            #expect(ended, "the shutdown did not end while the journal was failing")
            tasks.cancelAll()
        }
        #expect(client.retries(of: Self.input(0).notice.taskID) == 0)
        guard case .failure(let error)? = outcome.value else {
            Issue.record("the writer did not report the records it could not write")
            return
        }
        #expect("\(error)".contains("could not be written before shutdown"))
    }

    /// The retry call is sent only once its `attempt_started` is on disk. Before, a failed wait
    /// was ignored (`try?`) and the call went out anyway; a crash then would repeat it.
    @Test func noRetryCallWhoseStartIsNotOnDisk() async throws {
        let fault = Fault(.fsync)
        var settings = EngineSettings()
        settings.dispatch.confirmStatus = false
        let client = ScriptedHDPClient()
        try await withEngine(settings: settings, faults: fault.faults) { harness in
            let task = Self.input(0).notice.taskID
            _ = try await harness.engine.accept(Self.input(0))
            harness.clock.advance(by: 11)
            let (run, _) = await harness.engine.claim()
            let admitted = try #require(run.first)
            fault.isOn = true
            await harness.engine.run(admitted, client: client)
            #expect(client.retries(of: task) == 0)
            // Once the disk takes writes again, the attempt counts as interrupted: a status
            // check first (confirm_status is off), then exactly one retry.
            fault.isOn = false
            #expect(await harness.eventually { !harness.writer.isFailing })
            let (again, _) = await harness.engine.claim()
            let next = try #require(again.first)
            #expect(next.first == .checkStatus)
            await harness.engine.run(next, client: client)
            #expect(client.calls == [.status(task), .retry(task)])
        }
    }

    /// How the service group's run ended, set from its task.
    final class Outcome: Sendable {
        private let result = Mutex<Result<Void, any Error>?>(nil)
        var value: Result<Void, any Error>? { result.withLock { $0 } }
        func set(_ value: Result<Void, any Error>) { result.withLock { $0 = value } }
    }

    static func eventually(within seconds: Double = 5, _ condition: @Sendable () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return await condition()
    }
}

extension [UInt8] {
    /// Whether the exposition has a sample of `name` (any labels) with a value of at least `minimum`.
    func containsSample(_ name: String, atLeast minimum: Double) -> Bool {
        String(decoding: self, as: UTF8.self).split(separator: "\n").contains { line in
            guard line.hasPrefix(name), let value = line.split(separator: " ").last.flatMap({ Double($0) }) else {
                return false
            }
            return value >= minimum
        }
    }
}
