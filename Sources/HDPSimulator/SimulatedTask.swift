import Foundation

/// One task in the simulator's table: what `GET /tasks/{id}/status` reports, its transition
/// history, and the knobs that decide how a retry of it plays out.
public struct SimulatedTask: Sendable, Hashable {
    /// The id exactly as it was created; lookups ignore case, as ULIDs and UUIDs do.
    public var id: String
    /// The current status (one of ``HDPWorkflow/statuses``).
    public var status: String
    /// The error the task failed with; reported as `errorMessage` only while the task is failed.
    public var error: String?
    /// Whether the task's results are missing: a `TaskDecommitmentFailed` task with missing
    /// results cannot be retried (400 "Cannot retry decommitment").
    public var resultsMissing: Bool
    /// How many more times a re-run fails again; `nil` takes the fault settings' default.
    public var failAgain: Int?
    /// When the status last changed.
    public var updatedAt: Date
    /// Every status change, oldest first.
    public var transitions: [StateTransition]
    /// The failed status a re-run fails with again (the last `…Failed` status seen).
    public var failedStatus: String?
    /// A re-run that is queued and will settle at `due`, when workflow progression is enabled.
    public var pendingRun: PendingRun?

    /// The errorMessage HDP reports: the error while failed, `nil` otherwise.
    public var errorMessage: String? { HDPWorkflow.isFailed(status) ? error : nil }
}

/// A re-run queued by an accepted retry, settling at `due` into failure or completion.
public struct PendingRun: Sendable, Hashable {
    /// When the re-run settles (simulator time).
    public var due: Date
    /// Which kind of re-run it is.
    public var kind: RetryKind
}

/// One row of `GET /tasks/{id}/state_transitions`.
public struct StateTransition: Sendable, Hashable {
    /// A sequence number, unique across the simulator.
    public var id: Int
    /// The task the transition belongs to.
    public var taskID: String
    /// The status before, `nil` for the creation of the task.
    public var fromStatus: String?
    /// The status after.
    public var toStatus: String
    /// When it happened (simulator time).
    public var createdAt: Date
    /// Set on the reset to `Received` that an accepted retry causes: which re-run was queued.
    /// HDP does not send this field; it is the simulator's record of what a retry cost.
    public var retryKind: RetryKind?
}

/// A task as the control API (`POST /_sim/tasks`) and the `--tasks` file describe it.
public struct TaskSpec: Sendable, Hashable, Codable {
    /// The task id.
    public var taskID: String
    /// Its status; defaults to `AtlanticProvingFailed`, the most common failure worth retrying.
    public var status: String?
    /// The error it failed with.
    public var error: String?
    /// Whether its results are missing (see ``SimulatedTask/resultsMissing``).
    public var resultsMissing: Bool?
    /// How many more times a re-run fails again.
    public var failAgain: Int?

    /// Creates a spec; only the id is required.
    public init(
        taskID: String, status: String? = nil, error: String? = nil, resultsMissing: Bool? = nil,
        failAgain: Int? = nil
    ) {
        self.taskID = taskID
        self.status = status
        self.error = error
        self.resultsMissing = resultsMissing
        self.failAgain = failAgain
    }

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case status
        case error
        case resultsMissing = "results_missing"
        case failAgain = "fail_again"
    }

    /// Decodes one spec or an array of them, as `POST /_sim/tasks` and `--tasks` accept both.
    public static func decodeList(from data: Data) throws -> [TaskSpec] {
        let decoder = JSONDecoder()
        if let list = try? decoder.decode([TaskSpec].self, from: data) { return list }
        return [try decoder.decode(TaskSpec.self, from: data)]
    }
}
