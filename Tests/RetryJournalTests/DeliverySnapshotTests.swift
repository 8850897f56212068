import RetryCore
import Testing

@testable import RetryJournal

/// Compaction snapshots of the dedup table, old and new spellings.
@Suite struct DeliverySnapshotTests {
    /// A compaction snapshot written before keys replaced ids still replays to the same table.
    @Test func readsSnapshotsThatCarryIDs() throws {
        let line =
            #"{"v":1,"seq":9,"time":"2027-01-15T08:00:00.000Z","type":"deliveries_snapshot","data":{"deliveries":[{"id":"msg_1","at":"2027-01-15T07:00:00.000Z","task":"01JPJ03YJT1A93D6NF56G4GVEQ","decision":"retry_scheduled"}]}"#
        let crc = String(CRC32C.checksum(Array(line.utf8)), radix: 16)
        let record = try JournalCodec.decode(
            Array((line + #","crc":""# + String(repeating: "0", count: 8 - crc.count) + crc + #""}"#).utf8))
        guard case .deliveriesSnapshot(let seen) = record.body else {
            Issue.record("not a deliveries snapshot: \(record.body)")
            return
        }
        #expect(seen.map(\.key) == [DeliveryKey(id: "msg_1")])
        // And today's encoding reads back through both decoders to the same keys.
        let encoded = JournalCodec.encode(record)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""key":"\#(DeliveryKey(id: "msg_1"))""#))
        #expect(try JournalCodec.decode(Array(encoded.dropLast())) == record)
        #expect(try encoded.dropLast().withUnsafeBytes { try JournalCodec.decodeGeneral($0) } == record)
    }
}
