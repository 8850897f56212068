import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryJournal

@Suite struct CRC32CTests {
    /// The bit-at-a-time definition, to check the sliced tables against.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// RFC 3720 (iSCSI) appendix B.4 vectors and the usual check value.
    static let vectors: [(bytes: [UInt8], crc: UInt32)] = [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ((0..<32).map { UInt8($0) }, 0x46DD_794E),
        ((0..<32).map { UInt8(31 - $0) }, 0x113F_DB5C),
        ([], 0),
    ]

    @Test(arguments: 0..<6)
    func knownVectors(index: Int) {
        let vector = Self.vectors[index]
        #expect(CRC32C.checksum(vector.bytes) == vector.crc)
        #expect(vector.bytes.withUnsafeBytes { CRC32C.tableChecksum($0) } == vector.crc)
        #expect(Self.reference(vector.bytes) == vector.crc)
    }

    /// Every length around the 8-byte step and every alignment of the start, through the
    /// tables and through the processor's instruction (where this machine has one).
    @Test func slicedAndHardwareAgreeWithTheBitwiseDefinition() {
        var random = SeededGenerator(seed: 42)
        let pool = (0..<400).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for start in 0..<8 {
            for length in 0..<120 {
                let bytes = Array(pool[start..<(start + length)])
                let expected = Self.reference(bytes)
                pool.withUnsafeBytes {
                    let slice = UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])
                    #expect(CRC32C.tableChecksum(slice) == expected, "tables: start \(start), length \(length)")
                    #expect(CRC32C.checksum(slice) == expected, "start \(start), length \(length)")
                }
            }
        }
        #expect(CRC32C.checksum(pool) == Self.reference(pool))
    }

    /// The machines this runs on (x86-64 and 64-bit Arm) all have the instruction; a build that
    /// failed to find it would silently replay at a fraction of the speed.
    @Test func usesTheProcessorInstructionWhereThereIsOne() {
        #if arch(x86_64) || arch(arm64)
        #expect(CRC32C.usesHardware)
        #endif
    }
}
