#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where the agent's state lives, behind one seam: the file journal (one agent) and a shared
/// database (several agents) implement it, and the same pure ``Decisions`` decide for both.
///
/// Every change goes through a decision closure that the store runs on the task's current entry
/// under the task's lock (the file store: its actor; a database: a row lock), so two decisions on
/// one task never interleave. The closure returns the records to append; the store appends them,
/// folds them into the task's state with the same ``Ledger`` fold replay uses, and makes them
/// durable before the answer that depends on them is given.
public protocol RetryStore: AnyObject, Sendable {
    /// Decides a delivery under its task's lock — `decide` sees the delivery remembered under the
    /// same key inside the dedup window, if any, and the task's entry — appends the record, and
    /// returns once it is durable. A duplicate is answered once the original is durable.
    func recordDelivery(
        _ input: DeliveryInput, now: Date,
        decide: @Sendable (_ seen: SeenDelivery?, _ entry: TaskEntry?) -> DeliveryVerdict
    ) async throws(StoreError) -> DeliveryAnswer

    /// Hands out up to `limit` tasks whose retry is due at `now`, earliest first. A task handed
    /// out is not handed out again until a record reschedules it or ``release(_:)`` puts it back.
    /// Nothing is handed out while the store cannot write.
    func claimDue(now: Date, limit: Int) async -> [WorkItem]

    /// Puts tasks handed out by ``claimDue(now:limit:)`` back, unchanged.
    func release(_ tasks: [TaskID]) async

    /// Runs `decide` on a claimed task's entry under its lock and appends the records it returns
    /// (not waiting for them to be durable: see ``makeDurable()``). `nil` when the task has no
    /// entry or `decide` returns `nil` (nothing appended).
    func update<Result: Sendable>(
        _ task: TaskID, now: Date, decide: @Sendable (TaskEntry) -> StoreUpdate<Result>?
    ) async throws(StoreError) -> Result?

    /// Returns once every record appended so far is durable; throws when they cannot be made so.
    func makeDurable() async throws(StoreError)

    /// Journals a breaker transition.
    func recordBreaker(_ snapshot: BreakerSnapshot, now: Date) async

    /// The breaker state the journal holds (at start: the state to restore).
    func breakerSnapshot() async -> BreakerSnapshot

    /// The earliest due time of a pending retry not handed out.
    func nextDue() async -> Date?

    /// A task's state and its journal records, oldest first; `nil` for a task never seen.
    func view(of task: TaskID) async -> TaskView?

    /// Up to `limit` tasks in `state`: open episodes most overdue first, ended ones most
    /// recently changed first.
    func tasks(in state: TaskState, limit: Int, now: Date) async -> [TaskSummary]

    /// The figures behind the gauges that describe the store's content.
    func gauges(now: Date) async -> StoreGauges

    /// The entries of those of `tasks` the store knows (a reconciliation sweep looks up the
    /// failed tasks of a page at once); tasks never seen are absent.
    func entries(of tasks: [TaskID]) async -> [TaskID: TaskEntry]

    /// A store shared by several agents: the longest an idle dispatcher sleeps before it looks
    /// for due work again (work another agent scheduled, or whose lease ran out). `nil` for a
    /// store only this agent writes: its dispatcher is woken by what it does itself.
    var pollInterval: Duration? { get }

    /// A store shared by several agents: the breaker state another agent recorded since this one
    /// last recorded or adopted one (`nil`: no change). The dispatcher adopts it, so one agent
    /// seeing HDP fail holds every agent back.
    func sharedBreaker() async -> BreakerSnapshot?
}

extension RetryStore {
    /// Only this agent writes the store.
    public var pollInterval: Duration? { nil }

    /// Only this agent records breaker transitions.
    public func sharedBreaker() async -> BreakerSnapshot? { nil }
}

/// The records a decision appends, and what it tells its caller.
public struct StoreUpdate<Result: Sendable>: Sendable {
    public var records: [RecordBody]
    public var result: Result

    public init(records: [RecordBody], result: Result) {
        self.records = records
        self.result = result
    }
}

/// The answer to a delivery.
public enum DeliveryAnswer: Sendable, Hashable {
    /// New: journaled with this record; `attempt` is the retry the episode is for.
    case accepted(DeliveryRecord, task: TaskID, attempt: Int)
    /// Seen before within the dedup window.
    case duplicate(SeenDelivery)
}

/// One task as `GET /tasks/{id}` shows it.
public struct TaskView: Sendable, Hashable {
    public var task: TaskID
    public var entry: TaskEntry
    /// The task's journal records, oldest first (after a compaction: its snapshot and what
    /// followed).
    public var history: [JournalRecord]

    public init(task: TaskID, entry: TaskEntry, history: [JournalRecord]) {
        self.task = task
        self.entry = entry
        self.history = history
    }
}

/// One line of `GET /tasks?state=…`.
public struct TaskSummary: Sendable, Hashable {
    public var task: TaskID
    public var entry: TaskEntry

    public init(task: TaskID, entry: TaskEntry) {
        self.task = task
        self.entry = entry
    }
}

/// What the store's gauges show.
public struct StoreGauges: Sendable, Hashable {
    /// Open episodes (pending or in flight).
    public var openEpisodes: Int
    /// How long the most overdue pending retry is past its due time, in seconds (0 when none).
    public var oldestOverdueSeconds: Double

    public init(openEpisodes: Int, oldestOverdueSeconds: Double) {
        self.openEpisodes = openEpisodes
        self.oldestOverdueSeconds = oldestOverdueSeconds
    }
}

/// Why a store did not take a write. Nothing was acknowledged: a sender redelivers (503 with
/// `Retry-After`), a work item goes back to be tried again.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: String, Sendable, Hashable {
        case unavailable
        case closed
    }

    private let kind: Kind
    /// What failed, for the log (never a secret, never a payload).
    public let detail: String

    /// The store cannot make records durable now (disk full, read-only, database down).
    public static func unavailable(_ detail: String) -> StoreError { StoreError(kind: .unavailable, detail: detail) }
    /// The store is closed (the agent is stopping).
    public static let closed = StoreError(kind: .closed, detail: "the store is closed")

    /// A short, stable identifier: `unavailable` or `closed`.
    public var reason: String { kind.rawValue }
    public var isClosed: Bool { kind == .closed }

    public var description: String {
        switch kind {
        case .unavailable: "the journal cannot take the write (\(detail))"
        case .closed: "the journal is closed"
        }
    }
}
