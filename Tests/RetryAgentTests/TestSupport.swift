import Foundation
import Logging
import Synchronization

@testable import RetryAgent

/// A clock the test moves by hand; sleeping returns at once (the loops under test re-check time).
final class ManualClock: AgentClock, Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    func sleep(until deadline: Date) async throws {
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "hdp-retry-tests-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

let sampleTask = TaskID("01JPJ03YJT1A93D6NF56G4GVEQ")!

func notice(
    _ task: TaskID = sampleTask, status: String = "AtlanticProvingFailed", error: String? = "prover timeout",
    timestamp: Date? = nil
) -> FailureNotice {
    FailureNotice(task: task, status: status, error: error, timestamp: timestamp)
}

extension FailureNotice {
    init(task: TaskID, status: String, error: String?, timestamp: Date?) {
        var members: [String: JSONValue] = ["task_id": .string(task.rawValue), "status": .string(status)]
        if let error { members["error"] = .string(error) }
        self.init(taskID: task, status: status, error: error, timestamp: timestamp, payload: .object(members))
    }
}

/// Classifies everything as `retry` under rule `transient` (3 attempts, 10s without jitter),
/// except statuses containing `Decommitment` (give up) and `Ignored` (ignore).
let simpleClassifier: @Sendable (RuleEvent) -> Classification = { event in
    let backoff = BackoffPolicy(initial: .seconds(10), factor: 2, max: .seconds(60), jitter: .none)
    if event.status.contains("Decommitment") {
        return Classification(rule: "decommitment", action: .giveUp, maxAttempts: 3, backoff: backoff)
    }
    if event.status.contains("Ignored") {
        return Classification(rule: "noise", action: .ignore, maxAttempts: 3, backoff: backoff)
    }
    return Classification(rule: "transient", action: .retry, maxAttempts: 3, backoff: backoff)
}

let silentLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// SplitMix64: a small deterministic generator, so that a failing property run reproduces from
/// its seed on every machine. The one generator every seeded test uses.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound`.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
