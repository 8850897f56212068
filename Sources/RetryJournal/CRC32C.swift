import CCRC32C
import RetryCore

/// CRC-32C (Castagnoli), the journal's per-record checksum: it detects torn and corrupted lines.
/// It is an integrity check, not a security measure.
///
/// Replay checks every line, so this is on its hot path. Where the processor has a CRC-32C
/// instruction (SSE 4.2 on x86-64, the CRC32 extension on 64-bit Arm) the small C target
/// `CCRC32C` uses it, eight bytes per instruction. Elsewhere it is computed by "slicing-by-8": eight 256-entry tables let each step fold eight bytes with eight
/// lookups instead of one lookup per byte, several times faster on replay, where every line is
/// checked. Table 0 is the classic byte-at-a-time table; table `k` is the CRC of a byte followed by
/// `k` zero bytes, so that the lookups of one word can be XORed together.
public enum CRC32C {
    /// The reflected Castagnoli polynomial.
    static let polynomial: UInt32 = 0x82F6_3B78

    /// `tables[k * 256 + b]` for k in 0..<8.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1 }
            tables[index] = crc
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Whether ``checksum(_:)`` uses the processor's instruction.
    static let usesHardware = hdp_crc32c_hardware_available() != 0

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        if usesHardware { return hdp_crc32c_hardware(0xFFFF_FFFF, base, bytes.count) ^ 0xFFFF_FFFF }
        return tableChecksum(bytes)
    }

    /// The checksum of `bytes` computed with the tables (the reference the tests hold the
    /// instruction to).
    static func tableChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        var crc: UInt32 = 0xFFFF_FFFF
        let count = bytes.count
        tables.withUnsafeBufferPointer { table in
            let t = table.baseAddress.unsafelyUnwrapped
            var offset = 0
            while offset + 8 <= count {
                let word =
                    UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    ^ UInt64(crc)
                let low = UInt32(truncatingIfNeeded: word)
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc =
                    t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                offset += 8
            }
            while offset < count {
                crc = t[Int((crc ^ UInt32(base.load(fromByteOffset: offset, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
