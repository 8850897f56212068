import Foundation
import RetryCore

extension JournalCodec {
    /// The journal content that reproduces `ledger` (``Ledger/snapshotRecords(at:)``, encoded).
    public static func snapshotBytes(of ledger: Ledger, at now: Date) -> [UInt8] {
        var bytes: [UInt8] = []
        for record in ledger.snapshotRecords(at: now) { bytes.append(contentsOf: encode(record)) }
        return bytes
    }
}
