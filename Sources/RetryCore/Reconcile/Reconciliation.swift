#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a reconciliation sweep makes of one task in HDP's list (SPEC §7).
public enum ReconcileVerdict: String, Sendable, Hashable, CaseIterable {
    /// A failure the agent has not handled: it goes through classify → journal → dispatch.
    case missed
    /// The task is not in a `…Failed` status.
    case notFailed = "not_failed"
    /// The item has no readable time, so its failure has no identity (`reconcile.fields.updated_at`).
    case noTime = "no_time"
    /// Last updated longer ago than `reconcile.lookback`.
    case tooOld = "too_old"
    /// The task has an episode open: its retry is pending or in flight.
    case openEpisode = "open_episode"
    /// The failure is older than the task's last accepted retry: that retry was for it (or later).
    case stale
    /// A failure at or after the task's time was decided already (by its webhook or a sweep).
    case alreadyDecided = "already_decided"
}

/// The pure half of reconciliation: which listed tasks are missed failures, and the delivery a
/// missed failure becomes. Time comes in as `now`; nothing here reads a clock or the network.
public enum Reconciliation {
    /// The prefix of a sweep's delivery ids.
    public static let deliveryIDPrefix = "reconcile:"

    /// The verdict on `task` given the ledger's entry for it (`nil` for a task never seen).
    ///
    /// In order: a status that is not a failure; no time; older than `lookback` before `now`; an
    /// open episode; older than the last accepted retry (the same rule that makes a notice stale);
    /// decided already (``TaskEntry/hasDecided(failureAt:)``). Anything else is ``ReconcileVerdict/missed``.
    /// ``Decisions/delivery(_:seen:entry:now:jitter:classify:)`` applies the same rules again when
    /// the missed failure is decided, under the task's lock, so a webhook that arrives between the
    /// look and the decision still cannot double it.
    public static func verdict(
        for task: ListedTask, entry: TaskEntry?, now: Date, lookback: Duration
    ) -> ReconcileVerdict {
        guard TaskStatusInfo.isFailure(task.status) else { return .notFailed }
        guard let updatedAt = task.updatedAt else { return .noTime }
        if updatedAt < now.addingTimeInterval(-lookback.secondsDouble) { return .tooOld }
        guard let entry else { return .missed }
        if entry.episode != nil { return .openEpisode }
        if entry.isStale(failureAt: updatedAt) { return .stale }
        if entry.hasDecided(failureAt: updatedAt) { return .alreadyDecided }
        return .missed
    }

    /// The delivery id of a listed failure: `reconcile:{task}:{updatedAt}`, the task id as the
    /// agent stores it (ULIDs upper case, UUIDs lower case) and the time in the journal's own
    /// spelling (UTC, milliseconds), so one failure has one id whatever offset or precision HDP
    /// writes, before and after a restart. `nil` for an item without a time.
    public static func deliveryID(for task: ListedTask) -> String? {
        task.updatedAt.map { "\(deliveryIDPrefix)\(task.taskID.rawValue):\(ISO8601.format($0))" }
    }

    /// The delivery a missed failure becomes: the notice HDP's callback would have carried (its
    /// `timestamp` the task's `updatedAt`), the listed item as the payload the rules see, the id of
    /// ``deliveryID(for:)`` and the source `reconcile`. `nil` for an item without a time.
    public static func delivery(for task: ListedTask, correlationID: String) -> DeliveryInput? {
        guard let deliveryID = deliveryID(for: task) else { return nil }
        let notice = FailureNotice(
            taskID: task.taskID, status: task.status, error: task.error, timestamp: task.updatedAt, payload: task.item)
        return DeliveryInput(notice: notice, deliveryID: deliveryID, correlationID: correlationID, source: .reconcile)
    }
}
