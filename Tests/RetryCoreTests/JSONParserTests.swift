import Foundation
import RetryTesting
import Testing

@testable import RetryCore

@Suite struct JSONParserTests {
    /// The word-at-a-time scan stops where a byte-at-a-time one does, on buffers dense with the
    /// bytes it looks for, their neighbours (`!`, `#`, `[`, `]`, 0x1F, 0x20) and bytes over 0x7F,
    /// from every starting offset.
    @Test func specialByteScanAgreesWithAByteLoop() {
        var random = SeededGenerator(seed: 77)
        let alphabet: [UInt8] = [
            0x22, 0x5C, 0x00, 0x1F, 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xFF, 0x61,
        ]
        for _ in 0..<300 {
            let length = Int(random.next() % 40)
            let sparse = random.next() % 2 == 0
            let bytes = (0..<length).map { _ -> UInt8 in
                if sparse, random.next() % 8 != 0 { return UInt8(ascii: "a") + UInt8(random.next() % 26) }
                return alphabet[Int(random.next() % UInt64(alphabet.count))]
            }
            bytes.withUnsafeBytes { buffer in
                for start in 0...length {
                    let expected =
                        (start..<length).first { bytes[$0] == 0x22 || bytes[$0] == 0x5C || bytes[$0] < 0x20 } ?? length
                    #expect(
                        JSONParser.Cursor.firstSpecialByte(in: buffer, from: start) == expected,
                        "\(bytes) from \(start)")
                }
            }
        }
    }

    @Test func stringsReadTheSameWithAndWithoutEscapes() throws {
        let cases: [(json: String, value: String)] = [
            (#""plain text that is longer than eight bytes""#, "plain text that is longer than eight bytes"),
            (#""a\"b\\c\/d\n\u00e9\ud83d\ude00 tail after the escapes""#, "a\"b\\c/d\né😀 tail after the escapes"),
            (#""héllo wörld, not ascii""#, "héllo wörld, not ascii"),
            (#""""#, ""),
        ]
        for (json, value) in cases {
            #expect(try JSONParser.parse(Array(json.utf8)) == .string(value), "\(json)")
        }
        for bad in [#""unterminated and long enough"#, "\"control \u{01} inside\""] {
            #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(bad.utf8)) }
        }
    }
}
