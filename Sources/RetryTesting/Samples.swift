import Foundation
import Logging
import RetryCore

/// A fresh temporary directory, removed by the caller.
public func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "hdp-retry-tests-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The task id of HDP's documentation.
public let sampleTask = TaskID("01JPJ03YJT1A93D6NF56G4GVEQ")!

/// A failure notice for `task`, with the payload HDP's callback would carry.
public func notice(
    _ task: TaskID = sampleTask, status: String = "AtlanticProvingFailed", error: String? = "prover timeout",
    timestamp: Date? = nil
) -> FailureNotice {
    FailureNotice(task: task, status: status, error: error, timestamp: timestamp)
}

extension FailureNotice {
    /// A notice whose payload is HDP's callback shape for these fields.
    public init(task: TaskID, status: String, error: String?, timestamp: Date?) {
        var members: [String: JSONValue] = ["task_id": .string(task.rawValue), "status": .string(status)]
        if let error { members["error"] = .string(error) }
        self.init(taskID: task, status: status, error: error, timestamp: timestamp, payload: .object(members))
    }
}

/// Classifies everything as `retry` under rule `transient` (3 attempts, 10s without jitter),
/// except statuses containing `Decommitment` (give up) and `Ignored` (ignore).
public let simpleClassifier: @Sendable (RuleEvent) -> Classification = { event in
    let backoff = BackoffPolicy(initial: .seconds(10), factor: 2, max: .seconds(60), jitter: .none)
    if event.status.contains("Decommitment") {
        return Classification(rule: "decommitment", action: .giveUp, maxAttempts: 3, backoff: backoff)
    }
    if event.status.contains("Ignored") {
        return Classification(rule: "noise", action: .ignore, maxAttempts: 3, backoff: backoff)
    }
    return Classification(rule: "transient", action: .retry, maxAttempts: 3, backoff: backoff)
}

/// A logger that writes nothing.
public let silentLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
