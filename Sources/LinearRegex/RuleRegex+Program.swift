extension RuleRegex {
    /// One instruction of a compiled pattern, in the style of Thompson's construction.
    ///
    /// `scalar` and `set` consume one scalar of the text; the others move between instructions
    /// without consuming (epsilon moves), which the matcher follows before each step.
    enum Instruction: Sendable {
        /// Consume exactly this scalar.
        case scalar(Unicode.Scalar)
        /// Consume one scalar in `Program.sets[index]`.
        case set(Int)
        /// Continue at both instructions.
        case split(Int, Int)
        /// Continue at the instruction.
        case jump(Int)
        /// Continue at the next instruction if the assertion holds here.
        case assert(Assertion)
        /// The pattern has matched.
        case match
    }

    /// A compiled pattern: a flat instruction array the matcher walks without allocating.
    struct Program: Sendable {
        /// The instructions; execution starts at index 0.
        let instructions: [Instruction]
        /// The scalar sets referenced by `Instruction.set`.
        let sets: [CompiledSet]
        /// Whether some set folds case, so the matcher must compute each scalar's case forms.
        let foldsCase: Bool
        /// Whether every match must start at the text's start (a leading `^` without `(?m)`),
        /// so the search can stop as soon as no thread started at offset 0 is alive.
        let isAnchoredAtStart: Bool
        /// The ASCII scalars a match can begin with (a bitmap: bit `c` of `low` for `c` < 64, of
        /// `high` for the rest); `nil` when a match can be empty. While no thread is alive, the
        /// search steps over any other ASCII scalar without starting a thread there: most of an
        /// error text cannot begin a match of most rules.
        let firstASCII: (low: UInt64, high: UInt64)?

        init(instructions: [Instruction], sets: [CompiledSet], foldsCase: Bool, isAnchoredAtStart: Bool) {
            self.instructions = instructions
            self.sets = sets
            self.foldsCase = foldsCase
            self.isAnchoredAtStart = isAnchoredAtStart
            self.firstASCII = Self.firstASCII(instructions: instructions, sets: sets, foldsCase: foldsCase)
        }

        /// What ``firstASCII`` says, from the instructions reachable from the start without
        /// consuming a scalar. Assertions are passed as if they held (the set may be larger than
        /// needed, never smaller).
        private static func firstASCII(
            instructions: [Instruction], sets: [CompiledSet], foldsCase: Bool
        ) -> (low: UInt64, high: UInt64)? {
            var seen = Set<Int>()
            var pending = [0]
            var consuming: [Instruction] = []
            while let pc = pending.popLast() {
                guard pc < instructions.count, seen.insert(pc).inserted else { continue }
                switch instructions[pc] {
                case .jump(let target): pending.append(target)
                case .split(let first, let second): pending.append(contentsOf: [second, first])
                case .assert: pending.append(pc + 1)
                case .match: return nil
                case .scalar, .set: consuming.append(instructions[pc])
                }
            }
            var low: UInt64 = 0
            var high: UInt64 = 0
            for value in UInt32(0)..<0x80 {
                let scalar = Unicode.Scalar(UInt8(value))
                var lower = value
                var upper = value
                if foldsCase {
                    lower = CaseFolding.lowercase(scalar).value
                    upper = CaseFolding.uppercase(scalar).value
                }
                let begins = consuming.contains { instruction in
                    switch instruction {
                    case .scalar(let expected): expected == scalar
                    case .set(let set): sets[set].matches(value, lower: lower, upper: upper)
                    default: false
                    }
                }
                if begins {
                    if value < 64 { low |= 1 << UInt64(value) } else { high |= 1 << UInt64(value - 64) }
                }
            }
            return (low, high)
        }

        /// Whether a match can begin with the ASCII scalar `value` (< 128), as far as
        /// ``firstASCII`` tells; always true without it.
        func mayBegin(withASCII value: UInt32) -> Bool {
            guard let firstASCII else { return true }
            return value < 64
                ? firstASCII.low & (1 << UInt64(value)) != 0 : firstASCII.high & (1 << UInt64(value - 64)) != 0
        }
    }

    /// A ``ScalarSet`` prepared for matching: a bitmap for ASCII and sorted ranges for the rest.
    struct CompiledSet: Sendable {
        private let asciiLow: UInt64
        private let asciiHigh: UInt64
        private let wide: [ClosedRange<UInt32>]
        private let isNegated: Bool
        private let foldsCase: Bool

        /// Prepares `set` for matching.
        init(_ set: ScalarSet) {
            var low: UInt64 = 0
            var high: UInt64 = 0
            var wide: [ClosedRange<UInt32>] = []
            for range in set.ranges {
                for value in range.lowerBound..<max(range.lowerBound, min(range.upperBound &+ 1, 0x80)) {
                    if value < 64 { low |= 1 << UInt64(value) } else { high |= 1 << UInt64(value - 64) }
                }
                if range.upperBound >= 0x80 { wide.append(max(range.lowerBound, 0x80)...range.upperBound) }
            }
            self.asciiLow = low
            self.asciiHigh = high
            self.wide = wide
            self.isNegated = set.isNegated
            self.foldsCase = set.foldsCase
        }

        /// Whether `scalar`, whose simple case forms are `lower` and `upper`, is in the set.
        func matches(_ scalar: UInt32, lower: UInt32, upper: UInt32) -> Bool {
            var found = contains(scalar)
            if !found && foldsCase { found = contains(lower) || contains(upper) }
            return found != isNegated
        }

        private func contains(_ value: UInt32) -> Bool {
            if value < 64 { return asciiLow & (1 << UInt64(value)) != 0 }
            if value < 128 { return asciiHigh & (1 << UInt64(value - 64)) != 0 }
            var low = 0
            var high = wide.count
            while low < high {
                let middle = (low + high) / 2
                if wide[middle].upperBound < value {
                    low = middle + 1
                } else if wide[middle].lowerBound > value {
                    high = middle
                } else {
                    return true
                }
            }
            return false
        }
    }

    /// Compiles a ``Syntax`` tree into a ``Program``, refusing programs over the size cap.
    struct Compiler {
        /// The most instructions a pattern may compile to. Matching costs at most
        /// instructions × scalars searched, so this caps the work per match at about 4·10⁷ steps.
        static let maximumInstructions = 10_000

        private var instructions: [Instruction] = []
        private var sets: [CompiledSet] = []
        private var setIndices: [ScalarSet: Int] = [:]
        private let flags: Flags
        /// The quantifier offset of the outermost repetition being compiled, for the size error.
        private var repetitionOffset: Int?

        /// Compiles `syntax`.
        static func compile(_ syntax: Syntax) throws(RuleRegexError) -> Program {
            var compiler = Compiler(flags: syntax.flags)
            try compiler.compile(syntax.root)
            try compiler.emit(.match)
            var first = syntax.root
            if case .concatenation(let items) = first, let head = items.first { first = head }
            var anchored = false
            if case .assertion(.textStart) = first { anchored = true }
            return Program(
                instructions: compiler.instructions, sets: compiler.sets,
                foldsCase: syntax.flags.contains(.caseInsensitive), isAnchoredAtStart: anchored)
        }

        private init(flags: Flags) {
            self.flags = flags
        }

        private mutating func compile(_ node: Node) throws(RuleRegexError) {
            switch node {
            case .empty:
                break
            case .literal(let scalar):
                let lower = CaseFolding.lowercase(scalar)
                let upper = CaseFolding.uppercase(scalar)
                if flags.contains(.caseInsensitive) && (lower != scalar || upper != scalar) {
                    let values = [scalar.value, lower.value, upper.value].map { $0...$0 }
                    try emit(.set(index(of: ScalarSet(ranges: values, foldsCase: true))))
                } else {
                    try emit(.scalar(scalar))
                }
            case .set(let set):
                try emit(.set(index(of: set)))
            case .assertion(let assertion):
                try emit(.assert(assertion))
            case .concatenation(let items):
                for item in items { try compile(item) }
            case .alternation(let branches):
                try compileAlternation(branches)
            case .repetition(let inner, let min, let max, let offset):
                let isOutermost = repetitionOffset == nil
                if isOutermost { repetitionOffset = offset }
                try compileRepetition(inner, min: min, max: max)
                if isOutermost { repetitionOffset = nil }
            }
        }

        /// `split L1, next; L1: a; jump end; next: split L2, …; Ln: last; end:`.
        private mutating func compileAlternation(_ branches: [Node]) throws(RuleRegexError) {
            var jumpsToEnd: [Int] = []
            for (position, branch) in branches.enumerated() {
                if position == branches.count - 1 {
                    try compile(branch)
                } else {
                    let split = try emit(.split(instructions.count + 1, -1))
                    try compile(branch)
                    jumpsToEnd.append(try emit(.jump(-1)))
                    instructions[split] = .split(split + 1, instructions.count)
                }
            }
            for jump in jumpsToEnd { instructions[jump] = .jump(instructions.count) }
        }

        /// `x{n,m}` is n copies of x then m−n optional copies that all exit to the same end;
        /// `x{n,}` is n−1 copies then `x+`; `x*` is `L: split body, end; body; jump L; end:`.
        private mutating func compileRepetition(_ inner: Node, min: Int, max: Int?) throws(RuleRegexError) {
            guard let max else {
                if min == 0 {
                    let loop = try emit(.split(instructions.count + 1, -1))
                    try compile(inner)
                    try emit(.jump(loop))
                    instructions[loop] = .split(loop + 1, instructions.count)
                } else {
                    for _ in 1..<min { try compile(inner) }
                    let body = instructions.count
                    try compile(inner)
                    try emit(.split(body, instructions.count + 1))
                }
                return
            }
            for _ in 0..<min { try compile(inner) }
            var exits: [Int] = []
            for _ in min..<max {
                exits.append(try emit(.split(instructions.count + 1, -1)))
                try compile(inner)
            }
            for exit in exits { instructions[exit] = .split(exit + 1, instructions.count) }
        }

        @discardableResult
        private mutating func emit(_ instruction: Instruction) throws(RuleRegexError) -> Int {
            guard instructions.count < Self.maximumInstructions else {
                throw RuleRegexError(
                    message: "pattern too large: it compiles to more than \(Self.maximumInstructions) "
                        + "instructions; lower the repetition counts",
                    offset: repetitionOffset)
            }
            instructions.append(instruction)
            return instructions.count - 1
        }

        private mutating func index(of set: ScalarSet) -> Int {
            if let index = setIndices[set] { return index }
            sets.append(CompiledSet(set))
            setIndices[set] = sets.count - 1
            return sets.count - 1
        }
    }
}
