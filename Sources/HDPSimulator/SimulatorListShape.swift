/// How `GET /tasks` spells its answer. HDP does not document the list's shape, so the agent reads
/// several (SPEC §7) and the simulator can serve each of them: `PUT /_sim/list_shape` with
///
/// ```json
/// {"container": "tasks", "id_key": "id", "error_key": "errorMessage", "updated_key": "updatedAt"}
/// ```
///
/// (the default, every key optional). `container` is `tasks`, `data` or `items` — the member
/// holding the items, beside `page`, `per_page` and `total` — or `array`, a bare top-level array
/// without the paging members. The keys are the spellings of an item's id (`id`, `uuid`,
/// `task_id`, `taskId`), error (`errorMessage`, `error`) and time (`updatedAt`, `updated_at`);
/// any other non-empty name is served as well, for testing the agent's `reconcile.fields`.
/// `status` is always `status`.
public struct SimulatorListShape: Sendable, Hashable, Codable {
    /// Where the items are.
    public enum Container: String, Sendable, Hashable, Codable, CaseIterable {
        /// `{"tasks": […], "page", "per_page", "total"}`.
        case tasks
        /// `{"data": […], "page", "per_page", "total"}`.
        case data
        /// `{"items": […], "page", "per_page", "total"}`.
        case items
        /// `[…]`: the items alone.
        case array
    }

    /// Where the items are.
    public var container: Container
    /// The name of an item's id member.
    public var idKey: String
    /// The name of an item's error member (`null` unless the task is failed).
    public var errorKey: String
    /// The name of an item's last-update time member.
    public var updatedKey: String

    /// Creates a shape; the defaults are the simulator's own spelling.
    public init(
        container: Container = .tasks, idKey: String = "id", errorKey: String = "errorMessage",
        updatedKey: String = "updatedAt"
    ) {
        self.container = container
        self.idKey = idKey
        self.errorKey = errorKey
        self.updatedKey = updatedKey
    }

    /// `{"tasks":[{"id","status","errorMessage","updatedAt"}], "page", "per_page", "total"}`.
    public static let standard = SimulatorListShape()

    enum CodingKeys: String, CodingKey {
        case container
        case idKey = "id_key"
        case errorKey = "error_key"
        case updatedKey = "updated_key"
    }

    /// Decodes leniently: every key is optional and takes the default spelling.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            container: try container.decodeIfPresent(Container.self, forKey: .container) ?? .tasks,
            idKey: try container.decodeIfPresent(String.self, forKey: .idKey) ?? "id",
            errorKey: try container.decodeIfPresent(String.self, forKey: .errorKey) ?? "errorMessage",
            updatedKey: try container.decodeIfPresent(String.self, forKey: .updatedKey) ?? "updatedAt"
        )
    }

    /// Why this shape cannot be served, or `nil` when it can: every key must be named, and no two
    /// members of an item may share a name.
    public var problem: String? {
        let keys = [("id_key", idKey), ("error_key", errorKey), ("updated_key", updatedKey)]
        if let empty = keys.first(where: { $0.1.isEmpty }) { return "\(empty.0) must not be empty" }
        let names = keys.map(\.1) + ["status"]
        if Set(names).count != names.count { return "id_key, error_key, updated_key and status must differ" }
        return nil
    }
}
