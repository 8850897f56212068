import Foundation
import RetryTesting
import Testing

@testable import RetryCore

@Suite("Retry-After parsing")
struct RetryAfterTests {
    /// 1994-11-06T08:49:37Z, the RFC's example instant.
    static let now = Date(timeIntervalSince1970: 784_111_777)

    @Test(
        "values and what they ask for",
        arguments: [
            ("120", Duration?.some(.seconds(120))),
            ("0", .some(.zero)),
            ("  30\t", .some(.seconds(30))),
            ("-5", .some(.zero)),
            ("Sun, 06 Nov 1994 08:51:37 GMT", .some(.seconds(120))),
            ("Sunday, 06-Nov-94 08:51:37 GMT", .some(.seconds(120))),
            ("Sun Nov  6 08:51:37 1994", .some(.seconds(120))),
            ("Sun, 06 Nov 1994 08:49:37 GMT", .some(.zero)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", .some(.zero)),
            ("Mon, 07 Nov 1994 08:49:37 GMT", .some(.seconds(86_400))),
            ("99999999999999999999999", .some(RetryAfter.maximum)),
            ("31536000000", .some(RetryAfter.maximum)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", .some(RetryAfter.maximum)),
            ("", nil),
            ("soon", nil),
            ("1.5", nil),
            ("+5", nil),
            ("-", nil),
            ("12abc", nil),
            ("Sun, 06 Nov 1994 08:51:37 UTC", nil),
            ("Sun, 31 Nov 1994 08:51:37 GMT", nil),
            ("Sun, 06 Nov 1994 25:51:37 GMT", nil),
            ("Sun, 06 Foo 1994 08:51:37 GMT", nil),
            ("Sunday, 06-Nov-1994 08:51:37 GMT", nil),
            ("Sun Nov 6 08:51 1994", nil),
        ])
    func parse(value: String, expected: Duration?) {
        #expect(RetryAfter.parse(value, now: Self.now) == expected)
    }

    @Test("an RFC 850 two-digit year more than 50 years ahead is read as last century")
    func rfc850Century() throws {
        let now = Date(timeIntervalSince1970: 1_742_292_000)  // 2025-03-18T10:00:00Z
        #expect(RetryAfter.parse("Tuesday, 18-Mar-25 10:01:00 GMT", now: now) == .seconds(60))
        // 2094 would be more than 50 years ahead, so it is 1994: long past.
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now) == .zero)
    }

    @Test("a fraction of a second until the date rounds up, never down to zero")
    func fractionalNow() {
        let now = Date(timeIntervalSince1970: 784_111_776.5)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .milliseconds(500))
    }
}
