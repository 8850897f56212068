import Foundation
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore

/// The answers' JSON encoder: the same JSON as Foundation's encoder would give (compared parsed),
/// members in declaration order, `nil` left out, numbers of every kind and nesting.
@Suite struct AnswerEncoderTests {
    struct Inner: Encodable {
        var name: String
        var count: Int64
        var ratio: Float
    }

    struct Outer: Encodable {
        var first: String
        var missing: String?
        var present: Int?
        var flag: Bool
        var inner: Inner
        var list: [Inner]
        var words: [String]
        var any: JSONValue
        var big: UInt64
        var decision: DeliveryDecision
    }

    static let value = Outer(
        first: "a \"quoted\"\nline \u{01}", missing: nil, present: 7, flag: true,
        inner: Inner(name: "x", count: -3, ratio: 0.5), list: [Inner(name: "y", count: 1, ratio: 2)],
        words: ["p", "q"],
        any: .object(["n": .number(1), "f": .number(1.5), "s": .string("t"), "l": .array([.null, .bool(false)])]),
        big: UInt64.max, decision: .retryScheduled)

    @Test func matchesFoundationsEncoderAndKeepsTheOrder() throws {
        let ours = try AnswerEncoder.encode(Self.value)
        let theirs = try JSONEncoder().encode(Self.value)
        let parsedOurs = try JSONSerialization.jsonObject(with: Data(ours)) as? NSDictionary
        let parsedTheirs = try JSONSerialization.jsonObject(with: theirs) as? NSDictionary
        #expect(parsedOurs == parsedTheirs)
        let text = String(decoding: ours, as: UTF8.self)
        #expect(text.hasPrefix(#"{"first":"a \"quoted\"\nline \u0001","present":7,"flag":true,"inner":{"name":"x""#))
        #expect(!text.contains("missing"))
        #expect(text.contains(#""big":18446744073709551615"#))
        #expect(text.contains(#""decision":"retry_scheduled""#))
    }

    @Test func answersEncodeAsTheyDid() throws {
        let answer = ErrorAnswer(error: "nope")
        #expect(String(decoding: try AnswerEncoder.encode(answer), as: UTF8.self) == #"{"error":"nope"}"#)
    }
}
