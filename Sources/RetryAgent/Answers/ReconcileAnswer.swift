import Hummingbird
import RetryCore

/// The answer to `POST /-/reconcile`: what the sweep did and every failed task it looked at.
///
/// ```json
/// {"result":"ok","stop":"last_page","started_at":"…","seconds":0.041,"pages":2,"listed":150,
///  "unreadable":0,"failed_tasks":3,"found":1,
///  "verdicts":{"missed":1,"not_failed":147,"open_episode":1,"already_decided":1},
///  "tasks":[{"task_id":"01J…","status":"TraceGenFailed","error":"rpc timeout",
///            "updated_at":"…","verdict":"missed","delivery_id":"reconcile:01J…:…",
///            "decision":"retry_scheduled","reason":"rule","rule":"transient-network"}, …]}
/// ```
public struct ReconcileAnswer: ResponseEncodable, Sendable, Hashable {
    /// One failed task of the sweep.
    public struct TaskLine: Codable, Sendable, Hashable {
        public var taskID: String
        public var status: String
        public var error: String?
        public var updatedAt: String?
        /// `missed`, or why the task was left alone.
        public var verdict: String
        /// For a missed failure: its delivery id, and what the delivery path decided.
        public var deliveryID: String?
        public var decision: String?
        public var reason: String?
        public var rule: String?
        /// The delivery id was seen before (a sweep that died before its answer was given).
        public var duplicate: Bool?

        enum CodingKeys: String, CodingKey {
            case taskID = "task_id"
            case status, error
            case updatedAt = "updated_at"
            case verdict
            case deliveryID = "delivery_id"
            case decision, reason, rule, duplicate
        }

        init(_ finding: SweepReport.Finding) {
            taskID = finding.task.rawValue
            status = finding.status
            error = finding.error
            updatedAt = finding.updatedAt.map(ISO8601.format)
            verdict = finding.verdict.rawValue
            deliveryID = finding.deliveryID
            switch finding.answer {
            case .accepted(let record, _, _):
                decision = record.decision.rawValue
                reason = record.reason.rawValue
                rule = record.rule
            case .duplicate(let seen):
                decision = seen.decision.rawValue
                duplicate = true
            case .none:
                break
            }
        }
    }

    /// `ok`, `failed` or `skipped` (the `result` of `hdp_retry_reconcile_sweeps_total`).
    public var result: String
    /// Why paging stopped: `last_page`, `max_pages`, `list_failed`, `unreadable_page`,
    /// `breaker_open`, `journal_unavailable` or `stopping`.
    public var stop: String
    /// The failed call or unreadable page, or the first unreadable item.
    public var problem: String?
    public var startedAt: String
    public var seconds: Double
    /// List calls made.
    public var pages: Int
    /// Distinct tasks read.
    public var listed: Int
    public var unreadable: Int
    public var failedTasks: Int
    /// Missed failures the journal took as new deliveries.
    public var found: Int
    /// Tasks by verdict.
    public var verdicts: [String: Int]
    public var tasks: [TaskLine]

    enum CodingKeys: String, CodingKey {
        case result, stop, problem
        case startedAt = "started_at"
        case seconds, pages, listed, unreadable
        case failedTasks = "failed_tasks"
        case found, verdicts, tasks
    }

    public init(_ report: SweepReport) {
        result = report.result.rawValue
        stop = report.stop.rawValue
        problem = report.problem
        startedAt = ISO8601.format(report.startedAt)
        seconds = (report.finishedAt.timeIntervalSince(report.startedAt) * 1000).rounded() / 1000
        pages = report.pages
        listed = report.listed
        unreadable = report.unreadable
        failedTasks = report.failedTasks
        found = report.found
        verdicts = Dictionary(uniqueKeysWithValues: report.verdicts.map { ($0.key.rawValue, $0.value) })
        tasks = report.findings.map(TaskLine.init)
    }

    /// 200 for a sweep that read the list, 502 when HDP's list failed it (or the journal refused
    /// a delivery: 503), 503 when the breaker or a shutdown kept it from running.
    var status: HTTPResponse.Status {
        switch SweepReport.Stop(rawValue: stop) {
        case .lastPage, .maxPages: .ok
        case .listFailed, .unreadablePage: .badGateway
        case .journalUnavailable, .breakerOpen, .stopping, .none: .serviceUnavailable
        }
    }
}
