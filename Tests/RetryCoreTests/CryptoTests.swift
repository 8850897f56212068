import RetryTesting
import Testing

@testable import RetryCore

@Suite("Crypto")
struct CryptoTests {
    /// An HMAC-SHA256 known answer: key and data as bytes, the expected tag as hex.
    struct HMACVector: Sendable, CustomTestStringConvertible {
        let name: String
        let key: [UInt8]
        let data: [UInt8]
        let expectedHex: String
        var testDescription: String { name }
    }

    /// RFC 4231 §4.2–4.8 (test case 5 is truncated to 128 bits, as the RFC specifies), plus
    /// GitHub's published webhook example and the empty key.
    static let hmacVectors: [HMACVector] = [
        HMACVector(
            name: "RFC 4231 case 1", key: [UInt8](repeating: 0x0B, count: 20), data: Array("Hi There".utf8),
            expectedHex: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        HMACVector(
            name: "RFC 4231 case 2", key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
            expectedHex: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        HMACVector(
            name: "RFC 4231 case 3", key: [UInt8](repeating: 0xAA, count: 20),
            data: [UInt8](repeating: 0xDD, count: 50),
            expectedHex: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        HMACVector(
            name: "RFC 4231 case 4", key: Array(1...25), data: [UInt8](repeating: 0xCD, count: 50),
            expectedHex: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        HMACVector(
            name: "RFC 4231 case 5 (truncated)", key: [UInt8](repeating: 0x0C, count: 20),
            data: Array("Test With Truncation".utf8), expectedHex: "a3b6167473100ee06e0c796c2955552b"),
        HMACVector(
            name: "RFC 4231 case 6 (key longer than a block)", key: [UInt8](repeating: 0xAA, count: 131),
            data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            expectedHex: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        HMACVector(
            name: "RFC 4231 case 7 (key and data longer than a block)", key: [UInt8](repeating: 0xAA, count: 131),
            data: Array(
                ("This is a test using a larger than block-size key and a larger than block-size data. "
                    + "The key needs to be hashed before being used by the HMAC algorithm.").utf8),
            expectedHex: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        HMACVector(
            name: "GitHub webhook example", key: Array("It's a Secret to Everybody".utf8),
            data: Array("Hello, World!".utf8),
            expectedHex: "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        HMACVector(
            name: "empty key and data", key: [], data: [],
            expectedHex: "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
    ]

    @Test("HMAC-SHA256 known answers", arguments: hmacVectors)
    func hmacKnownAnswers(vector: HMACVector) {
        let tag = Crypto.hmacSHA256(key: vector.key, data: vector.data)
        #expect(tag.count == 32)
        #expect(Crypto.hexEncoded(tag).hasPrefix(vector.expectedHex))
        #expect(vector.expectedHex.count == 64 || vector.expectedHex.count == 32)
    }

    @Test(
        "SHA-256 known answers (FIPS 180-2 examples)",
        arguments: [
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func sha256KnownAnswers(input: String, expectedHex: String) {
        #expect(Crypto.hexEncoded(Crypto.sha256(Array(input.utf8))) == expectedHex)
    }

    @Test(
        "constant-time comparison",
        arguments: [
            ([UInt8](), [UInt8](), true),
            ([1, 2, 3], [1, 2, 3], true),
            ([1, 2, 3], [1, 2, 4], false),
            ([9, 2, 3], [1, 2, 3], false),
            ([1, 2, 3], [1, 2], false),
            ([1, 2], [1, 2, 3], false),
            ([], [0], false),
        ] as [([UInt8], [UInt8], Bool)])
    func constantTimeEquals(lhs: [UInt8], rhs: [UInt8], equal: Bool) {
        #expect(Crypto.constantTimeEquals(lhs, rhs) == equal)
        #expect(Crypto.constantTimeEquals(rhs, lhs) == equal)
    }

    @Test("random bytes have the requested length and differ between draws")
    func randomBytes() throws {
        let first = try Crypto.randomBytes(count: 32)
        let second = try Crypto.randomBytes(count: 32)
        #expect(first.count == 32)
        #expect(first != second)
        #expect(try Crypto.randomBytes(count: 0).isEmpty)
        #expect(try Crypto.randomBytes(count: 1000).count == 1000)
    }

    @Test("a negative random byte count is refused")
    func randomBytesNegative() {
        #expect(throws: CryptoError.invalidLength) { try Crypto.randomBytes(count: -1) }
        #expect(CryptoError.invalidLength.reason == "invalid_length")
    }

    @Test("hex encodes lower case and decodes either case")
    func hexRoundTrip() throws {
        let bytes: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xAB, 0xFF]
        #expect(Crypto.hexEncoded(bytes) == "00017f80abff")
        #expect(Crypto.hexDecoded("00017f80abff") == bytes)
        #expect(Crypto.hexDecoded("00017F80ABFF") == bytes)
        #expect(Crypto.hexDecoded("") == [])
        #expect(Crypto.hexEncoded([]) == "")
    }

    @Test(
        "hex decoding rejects odd lengths and non-hex characters",
        arguments: ["0", "abc", "zz", "0x12", " 12", "12 ", "éé"])
    func hexRejects(text: String) {
        #expect(Crypto.hexDecoded(text) == nil)
    }
}
