import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

#if canImport(Glibc)
import Glibc
#endif

/// A disk that fills up and frees again, through ``JournalFaults``: deliveries are refused (503)
/// while nothing can be written, nothing acknowledged is lost, and acceptance resumes by itself.
@Suite("Journal on a full disk")
struct JournalFullDiskTests {
    /// A switchable "disk full" for one system call kind.
    final class Disk: Sendable {
        private let full = Mutex(false)
        private let failures = Mutex(0)
        let operation: JournalFaults.Operation

        init(failing operation: JournalFaults.Operation) { self.operation = operation }

        var isFull: Bool {
            get { full.withLock { $0 } }
            set { full.withLock { $0 = newValue } }
        }

        /// How many calls failed on purpose.
        var injected: Int { failures.withLock { $0 } }

        var faults: JournalFaults {
            JournalFaults { operation in
                guard operation == self.operation, self.isFull else { return nil }
                self.failures.withLock { $0 += 1 }
                return ENOSPC
            }
        }
    }

    static func input(_ id: String, task: String) -> DeliveryInput {
        DeliveryInput(notice: notice(TaskID(task)!), deliveryID: id, correlationID: "c-\(id)")
    }

    static let tasks = (0..<6).map { "01JPJ03YJT1A93D6NF56G4GV\($0)0" }

    @Test(
        "deliveries get journalUnavailable while the disk is full, and are accepted again once it frees",
        arguments: [JournalFaults.Operation.write, .fsync])
    func fullThenFreed(operation: JournalFaults.Operation) async throws {
        let disk = Disk(failing: operation)
        try await withEngine(faults: disk.faults) { harness in
            var acknowledged: [String] = []
            for (index, id) in ["d1", "d2"].enumerated() {
                _ = try await harness.engine.accept(Self.input(id, task: Self.tasks[index]))
                acknowledged.append(id)
            }
            let sizeBefore = harness.file.size
            disk.isFull = true

            // The delivery whose write hits the full disk is refused, not acknowledged.
            await #expect(throws: DeliveryRefusal(reason: .journalUnavailable)) {
                _ = try await harness.engine.accept(Self.input("d3", task: Self.tasks[2]))
            }
            #expect(harness.writer.isFailing)
            // So is every delivery after it while the disk stays full, duplicates included.
            await #expect(throws: DeliveryRefusal(reason: .journalUnavailable)) {
                _ = try await harness.engine.accept(Self.input("d4", task: Self.tasks[3]))
            }
            await #expect(throws: DeliveryRefusal(reason: .journalUnavailable)) {
                _ = try await harness.engine.accept(Self.input("d1", task: Self.tasks[0]))
            }
            #expect(disk.injected > 0)
            // The journal's good length did not move; a failed write leaves no partial line behind
            // (after a failed fsync the bytes are there but past the good length, and are
            // rewritten in place by the retry).
            #expect(harness.file.size == sizeBefore)
            if operation == .write { #expect(try harness.recordsOnDisk().count == 2) }

            // Space is freed: the writer's own retries get through, without a restart.
            disk.isFull = false
            #expect(await harness.eventually { !harness.writer.isFailing })
            for (offset, id) in ["d5", "d6"].enumerated() {
                let answer = try await harness.engine.accept(Self.input(id, task: Self.tasks[4 + offset]))
                guard case .accepted = answer else {
                    Issue.record("\(id) was not accepted: \(answer)")
                    continue
                }
                acknowledged.append(id)
            }

            // Recovery: what a restarted agent reads back holds every acknowledged delivery, and
            // folds into exactly the live ledger.
            let records = try harness.recordsOnDisk()
            let journaled = Set(
                records.compactMap { record -> String? in
                    if case .delivery(let delivery) = record.body { return delivery.deliveryID.description }
                    return nil
                })
            #expect(Set(acknowledged).isSubset(of: journaled), "\(journaled)")
            var replayed = Ledger(dedupWindow: FileStore.Settings().dedupWindow)
            for record in records { replayed.apply(record) }
            let live = await harness.store.ledgerSnapshot
            #expect(replayed.tasks == live.tasks)
            #expect(replayed.deliveries == live.deliveries)
            #expect(replayed.lastSeq == live.lastSeq)
            #expect(records.map(\.seq) == Array(1...UInt64(records.count)))
        }
    }

    @Test("the webhook answers 503 with Retry-After while the disk is full, 202 once it is freed")
    func webhookAnswers() async throws {
        let disk = Disk(failing: .write)
        try await withEngine(faults: disk.faults) { harness in
            let app = Application(router: try harness.router())
            try await app.test(.router) { client async throws in
                func post(_ task: String, id: String) async throws -> TestResponse {
                    let body = noticeBody(task: task)
                    return try await client.execute(
                        uri: EngineHarness.path, method: .post,
                        headers: try signedHeaders(body, id: id, now: harness.clock.now),
                        body: ByteBuffer(string: body))
                }
                #expect(try await post(Self.tasks[0], id: "w1").status == .accepted)
                disk.isFull = true
                for id in ["w2", "w3"] {
                    let refused = try await post(Self.tasks[1], id: id)
                    #expect(refused.status == .serviceUnavailable)
                    #expect(refused.headers[.retryAfter] == "5")
                    #expect(String(buffer: refused.body).contains("journal"))
                }
                disk.isFull = false
                #expect(await harness.eventually { !harness.writer.isFailing })
                // w2 was decided and queued when its write failed; the writer wrote it once the
                // disk freed, so its redelivery is a duplicate of a durable delivery. w3 came
                // while the journal was known to fail and was never decided: it is new.
                #expect(try await post(Self.tasks[1], id: "w2").status == .ok)
                let w3 = try await post(Self.tasks[1], id: "w3")
                #expect(w3.status == .accepted)
                #expect(String(buffer: w3.body).contains("coalesced"))
                #expect(try await post(Self.tasks[2], id: "w4").status == .accepted)
            }
            let unavailable = Exposition(harness.metrics.exposition()).samples[
                #"hdp_retry_webhooks_total{outcome="unavailable"}"#]
            #expect(unavailable == 2)
        }
    }
}

private typealias Exposition = MetricsScrapeTests.Exposition
