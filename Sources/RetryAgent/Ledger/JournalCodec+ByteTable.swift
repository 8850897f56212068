extension JournalCodec {
    /// Up to 40 bytes packed into five words, with their count: a key that is hashed and
    /// compared without allocating (a ULID is 26 bytes, a UUID 36).
    struct ByteKey: Equatable {
        /// The bytes, zero-padded.
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64)
        /// How many of them there are (so that trailing zero bytes still count).
        var count: Int

        /// `nil` for more than 40 bytes.
        init?(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count <= 40 else { return nil }
            var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &buffer) { $0.copyMemory(from: bytes) }
            words = buffer
            count = bytes.count
        }

        /// Same count, same bytes.
        static func == (lhs: ByteKey, rhs: ByteKey) -> Bool {
            lhs.count == rhs.count && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
                && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3 && lhs.words.4 == rhs.words.4
        }

        /// A multiply-xorshift mix of the words, keyed by `seed`.
        func hash(seed: UInt64) -> UInt64 {
            func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
                let product = (hash ^ word) &* 0x9E37_79B9_7F4A_7C15
                return product ^ (product >> 29)
            }
            return mix(mix(mix(mix(mix(seed ^ UInt64(count), words.0), words.1), words.2), words.3), words.4)
        }
    }

    /// An open-addressing hash table (linear probing, at most half full) from ``ByteKey`` to
    /// `Value`, for the caches of one replay.
    ///
    /// `Dictionary` would do, but hashes with SipHash; replay looks a task id up on nearly every
    /// line, and a multiply-xorshift hash is several times cheaper. The seed is random per table,
    /// so ids chosen to collide (task ids come from webhook senders) cannot be prepared in
    /// advance. The table stops growing at `limit` entries: a lookup then just misses, and the
    /// caller makes the value the slow way.
    struct ByteTable<Value> {
        private var keys: [ByteKey?]
        private var values: [Value?]
        private var mask: Int
        /// Entries held.
        private(set) var count = 0
        private let limit: Int
        /// Drawn when the table first grows, so that a decoder made for one line costs nothing.
        private var seed: UInt64 = 0

        /// An empty table that will hold at most `limit` entries.
        init(limit: Int) {
            self.limit = limit
            keys = []
            values = []
            mask = -1
        }

        /// The value stored for `key`.
        subscript(key: ByteKey) -> Value? {
            guard mask >= 0 else { return nil }
            var slot = Int(truncatingIfNeeded: key.hash(seed: seed)) & mask
            while let candidate = keys[slot] {
                if candidate == key { return values[slot] }
                slot = (slot + 1) & mask
            }
            return nil
        }

        /// Adds `value` for a key that is not in the table (a no-op once the table is full).
        mutating func insert(_ value: Value, for key: ByteKey) {
            guard count < limit else { return }
            if 2 * (count + 1) > mask + 1 { grow() }
            var slot = Int(truncatingIfNeeded: key.hash(seed: seed)) & mask
            while keys[slot] != nil { slot = (slot + 1) & mask }
            keys[slot] = key
            values[slot] = value
            count += 1
        }

        private mutating func grow() {
            if mask < 0 { seed = UInt64.random(in: .min ... .max) }
            let oldKeys = keys
            let oldValues = values
            let capacity = max(1024, 2 * (mask + 1))
            keys = [ByteKey?](repeating: nil, count: capacity)
            values = [Value?](repeating: nil, count: capacity)
            mask = capacity - 1
            for (index, key) in oldKeys.enumerated() {
                guard let key, let value = oldValues[index] else { continue }
                var slot = Int(truncatingIfNeeded: key.hash(seed: seed)) & mask
                while keys[slot] != nil { slot = (slot + 1) & mask }
                keys[slot] = key
                values[slot] = value
            }
        }
    }
}
