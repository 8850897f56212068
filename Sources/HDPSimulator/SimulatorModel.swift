import Foundation

/// The simulator's whole state as a plain value: the task table, the call counts, the faults, the
/// random generator, the task list's shape and the failure callbacks owed. Every operation takes `now`, so behaviour is a pure function of the calls
/// made and the times given — tests drive it without a network or a real clock, and
/// ``SimulatorState`` only adds a lock and a clock around it.
public struct SimulatorModel: Sendable {
    /// Tasks keyed by their lower-cased id (ULIDs and UUIDs are case-insensitive).
    public internal(set) var tasks: [String: SimulatedTask] = [:]
    /// What the simulator was asked so far.
    public internal(set) var calls = SimulatorCallCounts()
    /// The faults in force.
    public internal(set) var faults: SimulatorFaults
    /// How far `POST /_sim/advance` has moved simulator time ahead of the real clock.
    public internal(set) var clockOffset: TimeInterval = 0
    /// End of a timed outage (`outage_ms`), in simulator time.
    var outageUntil: Date?
    /// The source of random fault decisions, seeded so runs repeat.
    var generator: SeededGenerator
    /// The id of the next state transition (global, like a database sequence).
    var nextTransitionID = 1
    /// The `X-API-KEY` value retries must present.
    let apiKey: String
    /// How `GET /tasks` spells its answer.
    public internal(set) var listShape = SimulatorListShape.standard
    /// Where failure callbacks go and which are lost on purpose.
    public internal(set) var webhooks = CallbackSettings()
    /// What became of the most recent callbacks, oldest first (at most ``webhookLogLimit``).
    public internal(set) var webhookLog: [CallbackRecord] = []
    /// Callbacks owed and not yet handed to the sender.
    var outbox: [CallbackNotice] = []
    /// Counts resets (see ``CallbackNotice/generation``).
    public internal(set) var generation = 0
    /// The random middle of this model's webhook ids.
    var webhookIDPrefix = CallbackIDAlphabet.randomPrefix()
    /// The number of the next webhook id.
    var nextWebhookNumber = 1

    /// Creates the start-up state: `tasks` created at `now`, `faults` in force, the list served in
    /// `listShape`, callbacks going to `webhookURL`. The start-up tasks are HDP's history: their
    /// failures happened before anyone listened, so they owe no callback.
    public init(
        apiKey: String, seed: UInt64, faults: SimulatorFaults, tasks: [TaskSpec], now: Date,
        listShape: SimulatorListShape = .standard, webhookURL: String? = nil
    ) throws {
        self.apiKey = apiKey
        self.generator = SeededGenerator(seed: seed)
        self.faults = .none
        try setFaults(faults, now: now)
        try setListShape(listShape)
        for spec in tasks { try upsert(spec, now: now) }
        if let webhookURL { webhooks.target = try CallbackTarget(parsing: webhookURL) }
    }

    /// The task with `id`, ignoring case.
    public func task(_ id: String) -> SimulatedTask? { tasks[id.lowercased()] }

    /// Creates or replaces a task; a replaced task starts a fresh history. A task created in a
    /// failed status owes a failure callback, as if it had just failed.
    public mutating func upsert(_ spec: TaskSpec, now: Date) throws {
        guard !spec.taskID.isEmpty, !spec.taskID.contains("/") else {
            throw SimulatorError.invalidTask("task_id must be a non-empty path segment")
        }
        let status = spec.status ?? "AtlanticProvingFailed"
        guard HDPWorkflow.isKnown(status) else {
            throw SimulatorError.invalidTask("unknown status \(status) for task \(spec.taskID)")
        }
        if let failAgain = spec.failAgain, failAgain < 0 {
            throw SimulatorError.invalidTask("fail_again must not be negative")
        }
        var task = SimulatedTask(
            id: spec.taskID, status: status, error: spec.error, resultsMissing: spec.resultsMissing ?? false,
            failAgain: spec.failAgain, updatedAt: now, transitions: [],
            failedStatus: HDPWorkflow.isFailed(status) ? status : nil, pendingRun: nil)
        let created = makeTransition(task: spec.taskID, from: nil, to: status, at: now, kind: nil)
        task.transitions.append(created)
        tasks[spec.taskID.lowercased()] = task
        if HDPWorkflow.isFailed(status) { announceFailure(of: spec.taskID.lowercased()) }
    }

    /// Replaces the fault set; an outage with a duration starts now.
    public mutating func setFaults(_ newFaults: SimulatorFaults, now: Date) throws {
        if let problem = newFaults.problem { throw SimulatorError.invalidFaults(problem) }
        faults = newFaults
        outageUntil = newFaults.outageMilliseconds.map { now.addingTimeInterval(Double($0) / 1000) }
    }

    /// Replaces the shape `GET /tasks` answers in.
    public mutating func setListShape(_ shape: SimulatorListShape) throws(SimulatorError) {
        if let problem = shape.problem { throw SimulatorError.invalidBody(problem) }
        listShape = shape
    }

    /// Moves simulator time forward by `seconds` and returns the new offset. With `nil`, moves
    /// just far enough (from `now`) for every queued re-run to settle.
    public mutating func advance(by seconds: TimeInterval?, now: Date) -> TimeInterval {
        if let seconds {
            clockOffset += max(0, seconds)
        } else if let latest = tasks.values.compactMap(\.pendingRun?.due).max(), latest > now {
            clockOffset += latest.timeIntervalSince(now)
        }
        return clockOffset
    }

    /// A new transition row with the next id.
    mutating func makeTransition(
        task: String, from: String?, to: String, at date: Date, kind: RetryKind?
    ) -> StateTransition {
        defer { nextTransitionID += 1 }
        return StateTransition(
            id: nextTransitionID, taskID: task, fromStatus: from, toStatus: to, createdAt: date, retryKind: kind)
    }

    /// Records a status change of the task under `key`.
    mutating func move(_ key: String, to status: String, at date: Date, kind: RetryKind? = nil) {
        guard var task = tasks[key] else { return }
        task.transitions.append(makeTransition(task: task.id, from: task.status, to: status, at: date, kind: kind))
        task.status = status
        task.updatedAt = date
        if HDPWorkflow.isFailed(status) { task.failedStatus = status }
        tasks[key] = task
    }

    /// Settles every queued re-run that is due at `now`, oldest first: it fails again with the
    /// task's failed status while its `fail_again` count lasts (owing a failure callback), and
    /// completes otherwise.
    public mutating func settle(now: Date) {
        let due = tasks.compactMap { key, task in
            task.pendingRun.flatMap { $0.due <= now ? (key: key, task: task, run: $0) : nil }
        }
        .sorted { ($0.run.due, $0.key) < ($1.run.due, $1.key) }
        for (key, task, run) in due {
            tasks[key]?.pendingRun = nil
            let remaining = task.failAgain ?? faults.failAgain
            if remaining > 0, let failed = task.failedStatus {
                tasks[key]?.failAgain = remaining - 1
                move(key, to: HDPWorkflow.stageStarted(for: failed), at: run.due)
                move(key, to: failed, at: run.due)
                announceFailure(of: key)
            } else {
                tasks[key]?.failAgain = 0
                move(key, to: "TaskDecommitmentStarted", at: run.due)
                move(key, to: HDPWorkflow.completed, at: run.due)
            }
        }
    }

    /// Updates the counts of a per-task read endpoint (the retry and list counts have their own
    /// shapes).
    mutating func count(_ endpoint: SimulatorEndpoint, _ update: (inout EndpointCallCounts) -> Void) {
        switch endpoint {
        case .retry, .list: break
        case .status: update(&calls.status)
        case .stateTransitions: update(&calls.stateTransitions)
        }
    }
}
