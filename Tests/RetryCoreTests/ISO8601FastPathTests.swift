import Foundation
import RetryTesting
import Testing

@testable import RetryCore

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

    /// Years 0000 to 9999 only, after rounding to the millisecond: anything a sender can make
    /// parse into must format back into a date the journal reads (a signed notice with
    /// `9999-12-31T23:59:60Z` once made a journal line its own replay refused).
    @Test(arguments: [
        "9999-12-31T23:59:60Z", "9999-12-31T23:59:59.9999Z", "9999-12-31T23:59:59-01:00",
        "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:60.000Z", "0000-01-01T00:00:00.000+00:01",
    ])
    func instantsOutsideYears0000To9999AreNotDates(_ text: String) {
        #expect(ISO8601.parse(text) == nil)
    }

    @Test func everyParsedInstantFormatsBackToTheSameMillisecond() throws {
        for text in [
            "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.9994Z",
            "9999-12-31T23:59:59+00:00", "0000-01-01T00:59:59.5+00:59", "1970-01-01T00:00:00Z",
        ] {
            let date = try #require(ISO8601.parse(text), "\(text)")
            let formatted = ISO8601.format(date)
            #expect(formatted.utf8.count == 24, "\(text) → \(formatted)")
            let again = try #require(ISO8601.parse(formatted), "\(text) → \(formatted)")
            #expect(again == date.roundedToMilliseconds, "\(text)")
        }
        // Instants no parse produces are written as the nearest end of the range.
        #expect(ISO8601.format(Date(timeIntervalSince1970: 1e12)) == "9999-12-31T23:59:59.999Z")
        #expect(ISO8601.format(Date(timeIntervalSince1970: -1e12)) == "0000-01-01T00:00:00.000Z")
        #expect(ISO8601.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000Z")
    }
}
