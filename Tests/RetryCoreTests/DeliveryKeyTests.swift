import Foundation
import RetryTesting
import Testing

@testable import RetryCore

@Suite struct DeliveryKeyTests {
    /// The key is the first half of the id's SHA-256 (FIPS 180-2 vectors), spelled in hex.
    @Test func isTheFirstHalfOfTheSHA256OfTheID() throws {
        #expect(DeliveryKey(id: "abc").description == "ba7816bf8f01cfea414140de5dae2223")
        #expect(DeliveryKey(id: "").description == "e3b0c44298fc1c149afbf4c8996fb924")
        let key = DeliveryKey(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f1W")
        #expect(DeliveryKey(hex: key.description) == key)
        #expect(key != DeliveryKey(id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f1w"))
    }

    @Test(arguments: [
        "", "ba7816bf8f01cfea414140de5dae222", "ba7816bf8f01cfea414140de5dae22233", "zz7816bf8f01cfea414140de5dae2223",
    ])
    func rejectsMalformedHex(_ text: String) {
        #expect(DeliveryKey(hex: text) == nil)
    }

    /// Every shape of id reads back as spelled, whichever way it is stored, and keys the same as
    /// its string.
    @Test(arguments: [
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f1W", "", "a", String(repeating: "x", count: 32),
        String(repeating: "x", count: 33),
        "msg_é", "sha256:" + String(repeating: "0123456789abcdef", count: 4),
        "sha256:" + String(repeating: "0123456789ABCDEF", count: 4),
        "sha256:" + String(repeating: "0123456789abcdef", count: 4).dropLast(),
        "sha256:" + String(repeating: "0123456789abcdeg", count: 4), "sha256:",
    ])
    func deliveryIDsReadBackAsSpelled(_ text: String) {
        let id = DeliveryID(text)
        #expect(id.description == text)
        #expect(Array(text.utf8).withUnsafeBytes { DeliveryID(utf8: $0) } == id)
        #expect(DeliveryKey(id: id) == DeliveryKey(id: text))
        #expect(id.withUTF8 { Array($0) } == Array(text.utf8))
    }

    @Test func bytesThatAreNotUTF8AreNotAnID() {
        for bytes in [[0x6D, 0xFF], [0xC0, 0xAF], Array(repeating: 0x78, count: 40) + [0xED, 0xA0, 0x80]] as [[UInt8]] {
            #expect(bytes.withUnsafeBytes { DeliveryID(utf8: $0) } == nil)
        }
    }

    @Test func deliveryIDsDifferWhenTheirSpellingsDo() {
        let spellings = [
            "msg_1", "msg_1 ", "MSG_1", "sha256:" + String(repeating: "ab", count: 32),
            "sha256:" + String(repeating: "ab", count: 31) + "ac", String(repeating: "ab", count: 32),
        ]
        let ids = spellings.map(DeliveryID.init)
        #expect(Set(ids).count == spellings.count)
        // Ids compare bytes, as their keys do, not Unicode equivalence.
        let composed = DeliveryID("msg_caf\u{E9}")
        let decomposed = DeliveryID("msg_cafe\u{301}")
        #expect(composed != decomposed)
        #expect(DeliveryKey(id: composed) != DeliveryKey(id: decomposed))
        #expect(Set([composed, decomposed, DeliveryID("msg_caf\u{E9}")]).count == 2)
        #expect(Set(spellings.map(DeliveryID.init)) == Set(ids))
    }
}
