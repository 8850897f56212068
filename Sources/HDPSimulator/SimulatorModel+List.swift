import Foundation

/// A request for one page of `GET /tasks`, checked the way a real API would check it.
public struct TaskListQuery: Sendable, Hashable {
    /// The page size when `hdp_tasks_per_page` is absent.
    public static let defaultPerPage = 20
    /// The largest page size served; a larger one is refused (400), not quietly capped, so a
    /// client that asks for more than it can get finds out.
    public static let maxPerPage = 100

    /// The page, 1-based.
    public var page: Int
    /// Tasks per page, 1 to ``maxPerPage``.
    public var perPage: Int
    /// Keeps only tasks whose id, status or error message contains this text, ignoring case;
    /// `nil` keeps every task.
    public var search: String?

    /// A query; throws when `page` or `perPage` is out of range.
    public init(page: Int = 1, perPage: Int = defaultPerPage, search: String? = nil) throws(SimulatorError) {
        guard page >= 1 else { throw SimulatorError.invalidQuery("hdp_tasks_page must be at least 1") }
        guard (1...Self.maxPerPage).contains(perPage) else {
            throw SimulatorError.invalidQuery("hdp_tasks_per_page must be between 1 and \(Self.maxPerPage)")
        }
        self.page = page
        self.perPage = perPage
        self.search = search.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Reads the query parameters `hdp_tasks_page`, `hdp_tasks_per_page` and `hdp_tasks_search`
    /// as they arrived (absent ones take the defaults); throws when a number is not one or is out
    /// of range.
    public init(page: String?, perPage: String?, search: String?) throws(SimulatorError) {
        func number(_ text: String?, _ name: String, default value: Int) throws(SimulatorError) -> Int {
            guard let text else { return value }
            guard let number = Int(text) else { throw SimulatorError.invalidQuery("\(name) must be a whole number") }
            return number
        }
        try self.init(
            page: try number(page, "hdp_tasks_page", default: 1),
            perPage: try number(perPage, "hdp_tasks_per_page", default: Self.defaultPerPage), search: search)
    }

    /// Whether `task` passes the search filter.
    func matches(_ task: SimulatedTask) -> Bool {
        guard let search else { return true }
        return [task.id, task.status, task.errorMessage ?? ""].contains {
            $0.range(of: search, options: .caseInsensitive) != nil
        }
    }
}

/// One page of `GET /tasks`.
public struct TaskListPage: Sendable, Hashable {
    /// The tasks on this page, most recently updated first (ties by id).
    public var tasks: [SimulatedTask]
    /// The page served, 1-based.
    public var page: Int
    /// The page size asked for.
    public var perPage: Int
    /// How many tasks match the search, over all pages.
    public var total: Int
}

/// The task list, as an operation on the model.
extension SimulatorModel {
    /// Serves `GET /tasks`: the tasks as they are at `now` (queued re-runs settled) that match the
    /// search, most recently updated first with ties broken by id, cut into pages. A page past the
    /// end is empty, not an error, as a paging client expects.
    public mutating func list(_ query: TaskListQuery, now: Date) -> TaskListPage {
        settle(now: now)
        let matching = tasks.values.filter(query.matches).sorted {
            $0.updatedAt != $1.updatedAt ? $0.updatedAt > $1.updatedAt : $0.id < $1.id
        }
        let (offset, overflow) = (query.page - 1).multipliedReportingOverflow(by: query.perPage)
        let start = overflow ? matching.count : min(matching.count, offset)
        let end = min(matching.count, start + query.perPage)
        return TaskListPage(
            tasks: Array(matching[start..<end]), page: query.page, perPage: query.perPage, total: matching.count)
    }
}
