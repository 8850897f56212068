import Foundation
import RetryCore

extension JournalCodec {
    /// One shared copy of each string that recurs in a journal (statuses, reasons, rule names,
    /// results and, above all, error texts: a journal holds a few dozen distinct ones, each
    /// repeated on thousands of lines), for the fast decoder of one replay.
    ///
    /// A string seen before costs a hash and a comparison instead of an allocation and a UTF-8
    /// validation, and every record that carries it (and every episode that keeps it) shares one
    /// buffer. It is an open-addressing table (linear probing, at most half full) keyed by a
    /// multiply-xorshift hash of the bytes; the seed is random per table, so texts chosen to
    /// collide (error texts come from webhook senders) cannot be prepared in advance. It stops
    /// growing at `limit` entries and never holds a string longer than `maxLength` bytes:
    /// anything else is just made the ordinary way.
    struct StringTable {
        /// `hashes[slot]` is 0 for an empty slot (a stored hash always has its top bit set; the
        /// slot comes from the low bits).
        private var hashes: [UInt64] = []
        private var strings: [String] = []
        private var mask = -1
        /// Strings held.
        private(set) var count = 0
        private let limit: Int
        private let maxLength: Int
        /// Drawn when the table first grows, so that a decoder made for one line costs nothing.
        private var seed: UInt64 = 0

        /// A table that will hold at most `limit` strings of at most `maxLength` bytes, starting
        /// with `preset`.
        ///
        /// Preset with string literals, the table hands out strings that need no reference
        /// counting at all: a literal lives in the binary. That matters for the values on most
        /// lines (HDP's statuses): a heap string shared by every record would have its reference
        /// count bumped by the decoding thread and dropped by the applying one, line after line.
        init(limit: Int, maxLength: Int, preset: [String] = []) {
            self.limit = limit
            self.maxLength = maxLength
            for literal in preset {
                var bytes = literal
                _ = bytes.withUTF8 { string(UnsafeRawBufferPointer($0), making: { literal }) }
            }
        }

        /// The string spelled by `bytes`, or `nil` when they are not valid UTF-8 (as the JSON
        /// parser refuses them; nothing is repaired).
        mutating func string(_ bytes: UnsafeRawBufferPointer) -> String? {
            string(bytes) { String(validating: bytes, as: UTF8.self) }
        }

        /// The string spelled by `bytes`; `make` makes it when the table does not hold it.
        private mutating func string(_ bytes: UnsafeRawBufferPointer, making make: () -> String?) -> String? {
            guard bytes.count <= maxLength else { return make() }
            if mask < 0 { grow() }
            let hash = Self.hash(bytes, seed: seed) | 1 << 63
            var slot = Int(truncatingIfNeeded: hash) & mask
            while hashes[slot] != 0 {
                if hashes[slot] == hash, Self.spells(strings[slot], bytes) { return strings[slot] }
                slot = (slot + 1) & mask
            }
            guard let string = make() else { return nil }
            guard count < limit, Self.spells(string, bytes) else { return string }
            if 2 * (count + 1) > mask + 1 {
                grow()
                slot = Int(truncatingIfNeeded: hash) & mask
                while hashes[slot] != 0 { slot = (slot + 1) & mask }
            }
            hashes[slot] = hash
            strings[slot] = string
            count += 1
            return string
        }

        /// Whether `string` is exactly `bytes`.
        private static func spells(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
            let equal = string.utf8.withContiguousStorageIfAvailable { stored in
                stored.count == bytes.count
                    && (stored.isEmpty || memcmp(stored.baseAddress!, bytes.baseAddress!, stored.count) == 0)
            }
            return equal ?? string.utf8.elementsEqual(bytes)
        }

        /// A multiply-xorshift hash of `bytes`, eight at a time, keyed by `seed`.
        static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
            func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
                let product = (hash ^ word) &* 0x9E37_79B9_7F4A_7C15
                return product ^ (product >> 29)
            }
            var hash = seed ^ UInt64(bytes.count)
            var offset = 0
            while offset + 8 <= bytes.count {
                hash = mix(hash, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count {
                tail |= UInt64(bytes[offset]) << shift
                shift += 8
                offset += 1
            }
            return mix(hash, tail)
        }

        private mutating func grow() {
            if mask < 0 { seed = UInt64.random(in: .min ... .max) }
            let oldHashes = hashes
            let oldStrings = strings
            let capacity = max(256, 2 * (mask + 1))
            hashes = [UInt64](repeating: 0, count: capacity)
            strings = [String](repeating: "", count: capacity)
            mask = capacity - 1
            for (index, hash) in oldHashes.enumerated() where hash != 0 {
                var slot = Int(truncatingIfNeeded: hash) & mask
                while hashes[slot] != 0 { slot = (slot + 1) & mask }
                hashes[slot] = hash
                strings[slot] = oldStrings[index]
            }
        }
    }
}
