#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Dotted JSON paths for a task list whose spelling the built-in lookups do not know
/// (`reconcile.fields.*`), like `webhook.fields` for notices.
public struct TaskListFields: Sendable, Hashable {
    /// Where the items are, from the top of the body (`reconcile.fields.items`, e.g. `result.tasks`).
    public var items: String?
    /// Where an item's task id is, from the top of the item (`reconcile.fields.task_id`).
    public var taskID: String?
    /// Where an item's status is (`reconcile.fields.status`).
    public var status: String?
    /// Where an item's error text is (`reconcile.fields.error`).
    public var error: String?
    /// Where an item's last-update time is (`reconcile.fields.updated_at`).
    public var updatedAt: String?

    /// Paths for the fields given; `nil` keeps the built-in lookup.
    public init(
        items: String? = nil, taskID: String? = nil, status: String? = nil, error: String? = nil,
        updatedAt: String? = nil
    ) {
        self.items = items
        self.taskID = taskID
        self.status = status
        self.error = error
        self.updatedAt = updatedAt
    }
}

/// One task as a page of `GET /tasks` lists it.
public struct ListedTask: Sendable, Hashable {
    public var taskID: TaskID
    /// HDP's status word.
    public var status: String
    /// The error text, when the item has one.
    public var error: String?
    /// When the task last changed, to the millisecond; `nil` when the item has no readable time
    /// (such an item cannot be reconciled: its failure has no identity, and the lookback cannot be
    /// applied).
    public var updatedAt: Date?
    /// The item as HDP listed it: the payload the rules see for a failure a sweep finds.
    public var item: JSONValue

    public init(taskID: TaskID, status: String, error: String?, updatedAt: Date?, item: JSONValue) {
        self.taskID = taskID
        self.status = status
        self.error = error
        self.updatedAt = updatedAt
        self.item = item
    }
}

/// One page of the task list, read.
public struct ListedPage: Sendable, Hashable {
    /// The items that have a task id and a status, in the order listed.
    public var tasks: [ListedTask]
    /// Every item on the page, readable or not (how a sweep tells the last page).
    public var itemCount: Int
    /// Why each unreadable item could not be read (no or invalid task id, no status), in order.
    public var unreadable: [String]

    public init(tasks: [ListedTask], itemCount: Int, unreadable: [String]) {
        self.tasks = tasks
        self.itemCount = itemCount
        self.unreadable = unreadable
    }
}

/// Why a page of the task list could not be read at all.
public struct TaskListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the members looked at; never a value from the body.
    public let description: String

    init(_ description: String) { self.description = description }
}

/// Reads a page of HDP's `GET /tasks` tolerantly (SPEC §7). HDP does not document the list's
/// shape, so several are read:
///
/// - the items: a top-level array, or the first of `tasks`, `data`, `items` that is an array
///   (`reconcile.fields.items` names another place, from the top of the body);
/// - an item's task id: `id`, `uuid`, `task_id` or `taskId` (first found);
/// - its status: `status`;
/// - its error: `errorMessage` or `error` (a string; anything else is no error);
/// - its time: `updatedAt` or `updated_at`, ISO 8601 or Unix seconds.
///
/// Each of `reconcile.fields.{task_id,status,error,updated_at}` replaces its built-in lookup with
/// a dotted path from the top of the item. One unreadable item does not spoil the page: it is
/// counted and said why, and the others are read.
public enum TaskListReader {
    /// Members that may hold the items, in the order looked at.
    public static let itemsKeys = ["tasks", "data", "items"]
    /// Spellings of an item's task id, in the order looked at.
    public static let taskIDKeys = ["id", "uuid", "task_id", "taskId"]
    /// Spellings of an item's error text.
    public static let errorKeys = ["errorMessage", "error"]
    /// Spellings of an item's last-update time.
    public static let updatedAtKeys = ["updatedAt", "updated_at"]

    /// Reads one page; throws when the body is not JSON or holds no list of items.
    public static func read(
        _ body: some Collection<UInt8>, fields: TaskListFields = TaskListFields()
    ) throws(TaskListError) -> ListedPage {
        let root: JSONValue
        do {
            root = try JSONValue.parse(body)
        } catch {
            throw TaskListError("the task list is not JSON (\(error.message) at byte \(error.offset))")
        }
        let items = try Self.items(in: root, path: fields.items)
        var tasks: [ListedTask] = []
        var unreadable: [String] = []
        tasks.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            switch Self.task(in: item, fields: fields) {
            case .success(let task): tasks.append(task)
            case .failure(let problem): unreadable.append("item \(index + 1): \(problem.description)")
            }
        }
        return ListedPage(tasks: tasks, itemCount: items.count, unreadable: unreadable)
    }

    private static func items(in root: JSONValue, path: String?) throws(TaskListError) -> [JSONValue] {
        if let path {
            guard case .array(let items)? = root[path: path] else {
                throw TaskListError("`\(path)` (reconcile.fields.items) is not an array")
            }
            return items
        }
        if case .array(let items) = root { return items }
        for key in itemsKeys {
            if case .array(let items)? = root[key] { return items }
        }
        throw TaskListError(
            "no list of tasks: looked for a top-level array and for \(itemsKeys.joined(separator: ", "))")
    }

    private static func task(in item: JSONValue, fields: TaskListFields) -> Result<ListedTask, TaskListError> {
        guard case .object = item else { return .failure(TaskListError("not an object")) }
        func value(_ path: String?, _ keys: [String]) -> JSONValue? {
            if let path { return item[path: path] }
            return keys.lazy.compactMap { item[$0] }.first { $0 != .null }
        }
        let idName = fields.taskID.map { "`\($0)`" } ?? taskIDKeys.joined(separator: ", ")
        guard let idValue = value(fields.taskID, taskIDKeys), case .string(let idText) = idValue else {
            return .failure(TaskListError("no task id (looked at \(idName))"))
        }
        guard let taskID = TaskID(idText) else {
            return .failure(TaskListError("the task id is neither a ULID nor a UUID"))
        }
        guard case .string(let status)? = value(fields.status, ["status"]), !status.isEmpty else {
            return .failure(TaskListError("no status (looked at \(fields.status.map { "`\($0)`" } ?? "status"))"))
        }
        let error = value(fields.error, errorKeys)?.stringValue
        // To the millisecond, as the journal keeps times: the failure's identity must read the same
        // after a restart as before it.
        let updatedAt = value(fields.updatedAt, updatedAtKeys).flatMap(time(from:))?.roundedToMilliseconds
        return .success(ListedTask(taskID: taskID, status: status, error: error, updatedAt: updatedAt, item: item))
    }

    /// ISO 8601 text, or Unix seconds (a number, or a string of digits) up to the end of 9999.
    static func time(from value: JSONValue) -> Date? {
        switch value {
        case .number(let seconds):
            return unixDate(seconds)
        case .string(let text):
            if !text.isEmpty, text.utf8.count <= 12, text.utf8.allSatisfy({ (48...57).contains($0) }) {
                return Double(text).flatMap(unixDate)
            }
            return ISO8601.parse(text)
        default:
            return nil
        }
    }

    private static func unixDate(_ seconds: Double) -> Date? {
        guard seconds.isFinite, seconds >= 0, seconds <= 253_402_300_799 else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}
