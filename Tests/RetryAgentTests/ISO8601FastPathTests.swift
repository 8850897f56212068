import Foundation
import Testing

@testable import RetryAgent

@Suite struct ISO8601FastPathTests {
    static func fast(_ text: String) -> Int64? {
        Array(text.utf8).withUnsafeBytes { ISO8601.journalShapeMilliseconds($0) }
    }

    static func general(_ text: String) -> Date? {
        Array(text.utf8).withUnsafeBytes { ISO8601.parseGeneral(utf8: $0) }
    }

    /// Instants across four centuries, leap days and year ends included, as the journal writes them.
    @Test func fastPathAgreesWithTheGeneralReaderOnAGeneratedTable() throws {
        var random = SeededGenerator(seed: 8601)
        var instants: [Int64] = [0, 951_782_400_000, 951_868_799_999, 4_107_542_399_999, -1, -62_135_596_800_000]
        for _ in 0..<20_000 {
            // Years 1 to 9999.
            instants.append(Int64(random.next() % 315_537_897_600_000) - 62_135_596_800_000)
        }
        for milliseconds in instants {
            let text = ISO8601.format(Date(millisecondsSince1970: milliseconds))
            let fast = try #require(Self.fast(text), "\(text)")
            #expect(fast == milliseconds, "\(text)")
            #expect(Self.general(text) == Date(millisecondsSince1970: fast), "\(text)")
        }
    }

    /// One byte changed: the fast path either reads the same instant as the general reader or
    /// declines, and `parse` always answers what the general reader answers.
    @Test func fastPathNeverDisagreesOnMutatedText() {
        var random = SeededGenerator(seed: 3339)
        let alphabet = Array("0123456789-:.TZtz +/".utf8)
        for _ in 0..<20_000 {
            let milliseconds = Int64(random.next() % 4_000_000_000_000)
            var bytes = Array(ISO8601.format(Date(millisecondsSince1970: milliseconds)).utf8)
            bytes[random.below(bytes.count)] = alphabet[random.below(alphabet.count)]
            let text = String(decoding: bytes, as: UTF8.self)
            let general = Self.general(text)
            if let fast = Self.fast(text) {
                #expect(general == Date(millisecondsSince1970: fast), "\(text)")
            }
            #expect(ISO8601.parse(text) == general, "\(text)")
        }
    }

    @Test(arguments: [
        ("2024-02-29T23:59:59.999Z", true),
        ("2023-02-29T00:00:00.000Z", false),
        ("2026-04-31T00:00:00.000Z", false),
        ("2026-13-01T00:00:00.000Z", false),
        ("2026-00-01T00:00:00.000Z", false),
        ("2026-01-01T24:00:00.000Z", false),
        ("2026-01-01T23:60:00.000Z", false),
        ("2026-12-31T23:59:60.000Z", true),
        ("2026-12-31T23:59:61.000Z", false),
        ("2026-12-31t23:59:59.000Z", false),
        ("2026-12-31T23:59:59.000z", false),
        ("2026-12-31T23:59:59.0000Z", false),
    ])
    func edgeCases(text: String, fastReads: Bool) {
        #expect((Self.fast(text) != nil) == fastReads, "\(text)")
        #expect(ISO8601.parse(text) == Self.general(text), "\(text)")
    }
}
