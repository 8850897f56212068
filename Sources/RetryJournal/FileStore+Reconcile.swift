import RetryCore

extension FileStore {
    /// The entries of those of `tasks` the ledger knows. The ledger is read in place, on the
    /// actor, with no suspension in between: it is never copied.
    public func entries(of tasks: [TaskID]) -> [TaskID: TaskEntry] {
        let known = ledgerSnapshot.tasks
        var entries: [TaskID: TaskEntry] = [:]
        for task in tasks {
            if let entry = known[task] { entries[task] = entry }
        }
        return entries
    }
}
