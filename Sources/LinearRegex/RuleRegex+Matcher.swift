extension RuleRegex.Program {
    /// Whether the program matches a substring of `text` that ends within its first `byteLimit`
    /// UTF-8 bytes.
    ///
    /// This is a Pike VM: all the ways the pattern could be matching are advanced together, one
    /// text scalar at a time, as a set of instruction indices ("threads"). A set holds each index at
    /// most once, so a step costs O(instructions) and the search O(instructions × scalars), whatever
    /// the pattern: there is no backtracking to blow up. Threads carry no captures, so the first
    /// thread to reach `match` ends the search.
    ///
    /// The two thread sets are sparse sets (Briggs–Torczon: constant-time insert, membership and
    /// clear) over one temporary buffer, so a search makes no heap allocation when the buffer fits
    /// on the stack.
    func search(_ text: String, byteLimit: Int) -> Bool {
        let count = instructions.count
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 6 * count + 1) { buffer in
            guard let base = buffer.baseAddress else { return false }
            buffer.initialize(repeating: 0)
            var current = RuleRegex.ThreadSet(dense: base, sparse: base + count)
            var next = RuleRegex.ThreadSet(dense: base + 2 * count, sparse: base + 3 * count)
            return run(text, byteLimit: byteLimit, current: &current, next: &next, stack: base + 4 * count)
        }
    }

    private func run(
        _ text: String, byteLimit: Int, current: inout RuleRegex.ThreadSet, next: inout RuleRegex.ThreadSet,
        stack: UnsafeMutablePointer<Int32>
    ) -> Bool {
        var scalars = text.unicodeScalars.makeIterator()
        var previous: Unicode.Scalar? = nil
        var scalar = scalars.next()
        var bytes = 0
        while true {
            // No thread alive, and none could start here: step over the scalar.
            if !isAnchoredAtStart, current.count == 0, let skipped = scalar, skipped.isASCII,
                !mayBegin(withASCII: skipped.value)
            {
                bytes += 1
                if bytes > byteLimit { return false }
                previous = skipped
                scalar = scalars.next()
                continue
            }
            // Unanchored search: a new thread starts at every position.
            if previous == nil || !isAnchoredAtStart {
                if addThread(0, to: &current, previous: previous, next: scalar, stack: stack) { return true }
            } else if current.count == 0 {
                return false
            }
            guard let consumed = scalar else { return false }
            bytes += UTF8.width(consumed)
            if bytes > byteLimit { return false }
            // Read one scalar ahead: `$` and `\b` after `consumed` depend on it, even past the bound.
            let following = scalars.next()
            let value = consumed.value
            var lower = value
            var upper = value
            if foldsCase {
                lower = RuleRegex.CaseFolding.lowercase(consumed).value
                upper = RuleRegex.CaseFolding.uppercase(consumed).value
            }
            next.removeAll()
            for index in 0..<current.count {
                let pc = Int(current.dense[index])
                let advances: Bool
                switch instructions[pc] {
                case .scalar(let expected): advances = expected == consumed
                case .set(let set): advances = sets[set].matches(value, lower: lower, upper: upper)
                case .split, .jump, .assert, .match: advances = false
                }
                if advances, addThread(pc + 1, to: &next, previous: consumed, next: following, stack: stack) {
                    return true
                }
            }
            swap(&current, &next)
            previous = consumed
            scalar = following
        }
    }

    /// Adds `start` and everything reachable from it without consuming (the epsilon closure) to
    /// `threads`, judging assertions between `previous` and `next`; true if `match` is reachable.
    ///
    /// Iterative, so a long chain of splits cannot overflow the call stack; `stack` needs room for
    /// 2 × instructions + 1 entries because every index is inserted once and pushes at most two.
    private func addThread(
        _ start: Int, to threads: inout RuleRegex.ThreadSet, previous: Unicode.Scalar?, next: Unicode.Scalar?,
        stack: UnsafeMutablePointer<Int32>
    ) -> Bool {
        stack[0] = Int32(start)
        var depth = 1
        while depth > 0 {
            depth -= 1
            let pc = Int(stack[depth])
            if threads.contains(pc) { continue }
            threads.insert(pc)
            switch instructions[pc] {
            case .jump(let target):
                stack[depth] = Int32(target)
                depth += 1
            case .split(let first, let second):
                stack[depth] = Int32(second)
                stack[depth + 1] = Int32(first)
                depth += 2
            case .assert(let assertion):
                if assertion.holds(previous: previous, next: next) {
                    stack[depth] = Int32(pc + 1)
                    depth += 1
                }
            case .match:
                return true
            case .scalar, .set:
                break
            }
        }
        return false
    }
}

extension RuleRegex {
    /// A sparse set of instruction indices over caller-provided memory (Briggs & Torczon, 1993).
    ///
    /// Membership is checked through both arrays, so neither needs clearing between steps: emptying
    /// the set is `count = 0`.
    struct ThreadSet {
        /// The members, in insertion order, in `dense[0..<count]`.
        let dense: UnsafeMutablePointer<Int32>
        /// For a member `pc`, its position in `dense`; stale values elsewhere.
        let sparse: UnsafeMutablePointer<Int32>
        /// The number of members.
        private(set) var count = 0

        /// Wraps `dense` and `sparse`, each with room for one entry per instruction.
        init(dense: UnsafeMutablePointer<Int32>, sparse: UnsafeMutablePointer<Int32>) {
            self.dense = dense
            self.sparse = sparse
        }

        /// Whether `pc` is a member.
        func contains(_ pc: Int) -> Bool {
            let position = Int(sparse[pc])
            return position < count && dense[position] == Int32(pc)
        }

        /// Adds `pc`, which must not be a member.
        mutating func insert(_ pc: Int) {
            sparse[pc] = Int32(count)
            dense[count] = Int32(pc)
            count += 1
        }

        /// Empties the set in constant time.
        mutating func removeAll() {
            count = 0
        }
    }
}
