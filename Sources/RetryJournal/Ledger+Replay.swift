import RetryCore

extension Ledger {
    /// Journal bytes per remembered delivery, for sizing the delivery table before a replay: a
    /// journal record takes about 340 bytes and about half of the records are deliveries.
    static let journalBytesPerDelivery: Int64 = 680

    /// The most deliveries ``replay(_:)`` makes room for in advance (a long journal mostly holds
    /// deliveries that have left the dedup window by its end; the table grows past this if needed).
    static let deliveryReserveLimit = 786_432

    /// Folds the whole journal in `file` into this state with ``Ledger/apply(_:)``, then rebuilds the
    /// due queue; the state is the same as from applying the records one by one.
    ///
    /// Two things make it cheaper than that: the delivery table is sized from the file's length
    /// up front (not grown and rehashed step by step), and episodes are not queued as they are
    /// rescheduled, only once at the end from the open ones (see ``Ledger/beginBulkLoad(expectedDeliveries:)``).
    public mutating func replay(_ file: JournalFile) throws(JournalError) -> ReplayReport {
        try replay(file, chunkSize: JournalReader.chunkSize)
    }

    /// ``replay(_:)`` reading `chunkSize` bytes at a time (tests use small chunks to take the
    /// pipelined path of ``JournalReader``).
    mutating func replay(_ file: JournalFile, chunkSize: Int) throws(JournalError) -> ReplayReport {
        let estimate = Int(min(file.size / Self.journalBytesPerDelivery, Int64(Self.deliveryReserveLimit)))
        beginBulkLoad(expectedDeliveries: estimate)
        defer { endBulkLoad() }
        return try JournalReader.replay(file, chunkSize: chunkSize) { apply($0) }
    }
}
