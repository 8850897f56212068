extension RuleRegex {
    /// A recursive-descent parser from a pattern's Unicode scalars to a ``Syntax`` tree.
    ///
    /// Offsets in the errors it throws are scalar offsets; ``RuleRegex/init(_:)`` converts them to
    /// character offsets for the rules loader's columns.
    struct Parser {
        /// Groups nested deeper than this are refused, so that parsing and compiling (both
        /// recursive) cannot exhaust the stack on a hostile pattern.
        static let maximumNesting = 100
        /// The longest pattern accepted, in scalars; longer ones could not compile within
        /// ``Compiler/maximumInstructions`` anyway, apart from no-op groups.
        static let maximumLength = 10_000

        private let scalars: [Unicode.Scalar]
        private var position = 0
        private var depth = 0
        /// The flags read so far; the class and escape parsers consult `caseInsensitive`.
        private(set) var flags: Flags = []

        /// Prepares to parse `pattern`.
        init(_ pattern: String) {
            self.scalars = Array(pattern.unicodeScalars)
        }

        /// Parses the whole pattern.
        mutating func parse() throws(RuleRegexError) -> Syntax {
            guard scalars.count <= Self.maximumLength else {
                throw RuleRegexError(
                    message: "pattern too large: longer than \(Self.maximumLength) characters", offset: nil)
            }
            try parseLeadingFlags()
            let root = try parseAlternation()
            if position < scalars.count {
                // parseAlternation stops only at the end or at a ')' it did not open.
                throw failure("unmatched ')'", at: position)
            }
            return Syntax(root: root, flags: flags)
        }

        // MARK: Structure

        private mutating func parseLeadingFlags() throws(RuleRegexError) {
            while peek() == "(", peek(1) == "?", let close = flagGroupEnd(from: position + 2) {
                for index in (position + 2)..<close {
                    switch scalars[index] {
                    case "i": flags.insert(.caseInsensitive)
                    case "m": flags.insert(.multiline)
                    case "s": flags.insert(.dotMatchesNewline)
                    default:
                        throw failure(
                            "unsupported flag '\(scalars[index])' (supported: i, m, s)", at: index)
                    }
                }
                position = close + 1
            }
        }

        /// The index of the `)` closing a flag group whose letters start at `start`, if it is one.
        private func flagGroupEnd(from start: Int) -> Int? {
            var index = start
            while index < scalars.count, scalars[index].properties.isAlphabetic || scalars[index] == "-" {
                index += 1
            }
            return index > start && index < scalars.count && scalars[index] == ")" ? index : nil
        }

        private mutating func parseAlternation() throws(RuleRegexError) -> Node {
            var branches = [try parseConcatenation()]
            while peek() == "|" {
                position += 1
                branches.append(try parseConcatenation())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        private mutating func parseConcatenation() throws(RuleRegexError) -> Node {
            var items: [Node] = []
            while let scalar = peek(), scalar != "|", scalar != ")" {
                let start = position
                let atom = try parseAtom()
                items.append(try parseQuantifier(of: atom, atomStart: start))
            }
            switch items.count {
            case 0: return .empty
            case 1: return items[0]
            default: return .concatenation(items)
            }
        }

        private mutating func parseAtom() throws(RuleRegexError) -> Node {
            let start = position
            let scalar = scalars[position]
            position += 1
            switch scalar {
            case "(":
                return try parseGroup(openedAt: start)
            case "[":
                return .set(try parseClass(openedAt: start))
            case ".":
                let ranges = flags.contains(.dotMatchesNewline) ? [0...ScalarSet.maximumScalar] : ScalarSet.notNewline
                return .set(ScalarSet(ranges: ranges))
            case "^":
                return .assertion(flags.contains(.multiline) ? .lineStart : .textStart)
            case "$":
                return .assertion(flags.contains(.multiline) ? .lineEnd : .textEnd)
            case "\\":
                return try parseEscape(at: start)
            case "*", "+", "?":
                throw failure(
                    "'\(scalar)' has nothing to repeat; write \\\(scalar) for a literal '\(scalar)'", at: start)
            case "{":
                position = start
                if try parseBraces() != nil {
                    throw failure("'{' has nothing to repeat; write \\{ for a literal '{'", at: start)
                }
                throw failure("a literal '{' must be written \\{", at: start)
            default:
                return .literal(scalar)
            }
        }

        private mutating func parseGroup(openedAt start: Int) throws(RuleRegexError) -> Node {
            if peek() == "?" {
                try parseGroupPrefix(openedAt: start)
            }
            depth += 1
            guard depth <= Self.maximumNesting else {
                throw failure("groups nested more than \(Self.maximumNesting) deep", at: start)
            }
            let inner = try parseAlternation()
            guard peek() == ")" else { throw failure("missing ')' for the group opened here", at: start) }
            position += 1
            depth -= 1
            return inner
        }

        /// Accepts `(?:`, refuses every other `(?…` form with the reason.
        private mutating func parseGroupPrefix(openedAt start: Int) throws(RuleRegexError) {
            let linear = "are not supported: rule regexes must match in linear time"
            switch (peek(1), peek(2)) {
            case (":", _):
                position += 2
            case ("=", _), ("!", _), ("<", "="), ("<", "!"):
                throw failure("lookaround assertions \(linear)", at: start)
            case ("<", _), ("P", "<"), ("'", _):
                throw failure("named groups \(linear); use (?: … )", at: start)
            case ("P", "="), ("P", ">"):
                throw failure("backreferences \(linear)", at: start)
            case (">", _):
                throw failure("atomic groups \(linear)", at: start)
            case ("#", _):
                throw failure("comment groups (?# … ) are not supported", at: start)
            case (let letter?, _) where letter.properties.isAlphabetic || letter == "-":
                if flagGroupEnd(from: position + 1) != nil {
                    throw failure("flags such as (?i) are only allowed at the very start of the pattern", at: start)
                }
                throw failure(
                    "scoped flags (?flags: … ) are not supported; put (?i) at the start of the pattern", at: start)
            default:
                throw failure("unknown group syntax after '(?'", at: start)
            }
        }

        // MARK: Quantifiers

        private mutating func parseQuantifier(of atom: Node, atomStart: Int) throws(RuleRegexError) -> Node {
            guard let quantifier = try parseQuantifierOperator() else { return atom }
            if case .assertion = atom, scalars[atomStart] != "(" {
                throw failure("an anchor or \\b cannot be repeated", at: quantifier.offset)
            }
            if peek() == "?" {
                // Lazy: the same set of matches, so the same answer for a yes/no search.
                position += 1
            } else if peek() == "+" {
                throw failure(
                    "possessive quantifiers are not supported: rule regexes must match in linear time",
                    at: position)
            }
            let next = position
            if try parseQuantifierOperator() != nil {
                throw failure("a quantifier cannot follow another; wrap the repeated part in (?: … )", at: next)
            }
            return .repetition(atom, min: quantifier.min, max: quantifier.max, offset: quantifier.offset)
        }

        private mutating func parseQuantifierOperator() throws(RuleRegexError) -> (
            min: Int, max: Int?, offset: Int
        )? {
            let start = position
            switch peek() {
            case "*":
                position += 1
                return (0, nil, start)
            case "+":
                position += 1
                return (1, nil, start)
            case "?":
                position += 1
                return (0, 1, start)
            case "{":
                guard let (min, max) = try parseBraces() else {
                    throw failure(
                        "malformed repetition; expected {n}, {n,} or {n,m}, or \\{ for a literal '{'", at: start)
                }
                return (min, max, start)
            default:
                return nil
            }
        }

        /// Parses `{n}`, `{n,}` or `{n,m}` at `position`; nil (position unchanged) when malformed.
        private mutating func parseBraces() throws(RuleRegexError) -> (Int, Int?)? {
            let start = position
            position += 1
            guard let min = parseNumber() else {
                position = start
                return nil
            }
            var max: Int? = min
            if peek() == "," {
                position += 1
                max = parseNumber()
            }
            guard peek() == "}" else {
                position = start
                return nil
            }
            position += 1
            let limit = RuleRegex.maximumRepetition
            if min > limit || (max ?? 0) > limit {
                throw failure("repetition count exceeds \(limit)", at: start)
            }
            if let max, max < min {
                throw failure("repetition {\(min),\(max)} has its minimum above its maximum", at: start)
            }
            return (min, max)
        }

        /// Decimal digits at `position`, saturating just above the repetition limit.
        private mutating func parseNumber() -> Int? {
            var value: Int?
            while let digit = peek(), ("0"..."9").contains(digit) {
                value = min((value ?? 0) * 10 + Int(digit.value - 0x30), RuleRegex.maximumRepetition + 1)
                position += 1
            }
            return value
        }

        // MARK: Helpers

        /// The scalar `ahead` places after the current one, if any.
        func peek(_ ahead: Int = 0) -> Unicode.Scalar? {
            position + ahead < scalars.count ? scalars[position + ahead] : nil
        }

        /// Moves past `count` scalars.
        mutating func advance(by count: Int = 1) { position += count }

        /// The current scalar offset.
        var offset: Int { position }

        /// An error at scalar offset `offset`.
        func failure(_ message: String, at offset: Int?) -> RuleRegexError {
            RuleRegexError(message: message, offset: offset)
        }
    }
}
