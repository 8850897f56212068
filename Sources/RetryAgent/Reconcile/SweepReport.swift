import Foundation
import RetryCore

/// What one reconciliation sweep did: the answer of `POST /-/reconcile`, the table of
/// `reconcile --dry-run`, and the figures of its log line and metrics.
public struct SweepReport: Sendable, Hashable {
    /// Why the sweep stopped paging.
    public enum Stop: String, Sendable, Hashable, CaseIterable {
        /// A page held no items, or fewer than an earlier page: the list is read to its end.
        case lastPage = "last_page"
        /// `reconcile.max_pages` pages were read.
        case maxPages = "max_pages"
        /// A list call failed (an HTTP status, a timeout, a connection error).
        case listFailed = "list_failed"
        /// A page's body held no list of tasks.
        case unreadablePage = "unreadable_page"
        /// The breaker held HDP calls back, before the first page or between two.
        case breakerOpen = "breaker_open"
        /// The journal did not take a missed failure's delivery (disk full, read-only).
        case journalUnavailable = "journal_unavailable"
        /// The agent is stopping.
        case stopping

        /// The `result` of `hdp_retry_reconcile_sweeps_total` for a sweep that stopped so.
        public var result: ReconcileMetrics.Result {
            switch self {
            case .lastPage, .maxPages: .ok
            case .listFailed, .unreadablePage, .journalUnavailable: .failed
            case .breakerOpen, .stopping: .skipped
            }
        }
    }

    /// One failed task the sweep looked at.
    public struct Finding: Sendable, Hashable {
        public var task: TaskID
        public var status: String
        public var error: String?
        public var updatedAt: Date?
        public var verdict: ReconcileVerdict
        /// For a missed failure: the delivery id it went through the delivery path under.
        public var deliveryID: String?
        /// For a missed failure: what the delivery path answered (or, in a dry run, would answer).
        public var answer: DeliveryAnswer?
    }

    public var stop: Stop
    /// When the sweep started and ended (the agent's clock).
    public var startedAt: Date
    public var finishedAt: Date
    /// List calls made: pages asked for, answered or not.
    public var pages = 0
    /// Distinct tasks read from the pages.
    public var listed = 0
    /// Items that could not be read (no or invalid task id, no status).
    public var unreadable = 0
    /// The failed list call, the unreadable page, or the first unreadable item, in words.
    public var problem: String?
    /// Tasks by verdict (`not_failed` included).
    public var verdicts: [ReconcileVerdict: Int] = [:]
    /// Every failed task looked at, in list order.
    public var findings: [Finding] = []

    /// `ok`, `failed` or `skipped`.
    public var result: ReconcileMetrics.Result { stop.result }

    /// Missed failures whose delivery the journal took as new (not a duplicate delivery id).
    public var found: Int {
        findings.count { finding in
            if case .accepted = finding.answer { return true }
            return false
        }
    }

    /// Failed tasks on the pages read.
    public var failedTasks: Int { listed - verdicts[.notFailed, default: 0] }
}
