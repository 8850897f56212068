import Foundation
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

extension EndToEndTests {
    /// `/readyz` tells a load balancer or Kubernetes when the agent can take deliveries.
    @Suite("Readiness")
    struct ReadinessTests {
        /// A journal big enough that replaying it takes a visible while in a debug build.
        static func writeLargeJournal(to path: String, records: Int) throws {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(records * 330)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for index in 0..<records {
                let task = TaskID(String(format: "01JPJ03YJT1A93D6NF%08X", index % 50_000))!
                let delivery = DeliveryRecord(
                    deliveryID: "replay-\(index)", correlationID: "c\(index)", status: "AtlanticProvingFailed",
                    error: "prover timeout", noticeTime: nil, decision: .ignored, reason: .rule, rule: "noise",
                    schedule: nil
                )
                let record = JournalRecord(
                    seq: UInt64(index + 1), time: start.addingTimeInterval(Double(index) / 1000), task: task,
                    body: .delivery(delivery))
                bytes += JournalCodec.encode(record)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }

        @Test("/readyz answers 503 while a large journal is replayed and 200 after")
        func readyOnlyAfterReplay() async throws {
            try await EndToEndHarness.run { e2e in
                try Self.writeLargeJournal(to: e2e.journalPath, records: 100_000)
                let child = try e2e.spawnAgent()
                // The admin listener comes up while the core is still replaying.
                var adminPort: Int?
                try await eventually("the admin listener of \(child.logPath)", timeout: .seconds(60)) {
                    guard child.isRunning else { throw EndToEndError("the agent exited:\n\(child.log.suffix(3000))") }
                    guard
                        let line = child.log.split(separator: "\n").first(where: { $0.contains("admin listener up") }),
                        let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
                    else { return false }
                    adminPort = Int(line[range].split(separator: ":").last ?? "")
                    return adminPort != nil
                }
                let readyz = "http://127.0.0.1:\(adminPort!)/readyz"
                var seen: [Int] = []
                try await eventually("\(readyz) to answer 200", timeout: .seconds(120), every: .milliseconds(20)) {
                    let status = (try? await e2e.request(.GET, readyz).status) ?? 0
                    if seen.last != status { seen.append(status) }
                    return status == 200
                }
                #expect(seen.first == 503, "statuses seen: \(seen)")
                #expect(seen.last == 200)
                #expect(child.log.contains(#""records":"100000""#), "the whole journal was replayed")
                child.send(SIGTERM)
                let exit = try await child.waitForExit()
                #expect(exit?.status == 0)
            }
        }
    }
}
