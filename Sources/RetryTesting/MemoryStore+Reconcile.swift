import RetryCore

extension MemoryStore {
    /// The entries of those of `tasks` the ledger knows.
    public func entries(of tasks: [TaskID]) -> [TaskID: TaskEntry] {
        var entries: [TaskID: TaskEntry] = [:]
        for task in tasks {
            if let entry = ledger.tasks[task] { entries[task] = entry }
        }
        return entries
    }
}
