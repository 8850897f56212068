extension RuleRegex.Parser {
    /// What a backslash escape or a class member stands for.
    enum Item {
        /// One scalar: a literal character or an escape such as `\n` or `\.`.
        case scalar(Unicode.Scalar)
        /// A shorthand class such as `\d` or `\S`, as normalised ranges.
        case ranges([ClosedRange<UInt32>])
    }

    /// Parses an escape outside a class; the backslash at `start` has been consumed.
    mutating func parseEscape(at start: Int) throws(RuleRegexError) -> RuleRegex.Node {
        switch peek() {
        case "b":
            advance()
            return .assertion(.wordBoundary)
        case "B":
            advance()
            return .assertion(.notWordBoundary)
        default:
            switch try parseEscapeBody(at: start) {
            case .scalar(let scalar): return .literal(scalar)
            case .ranges(let ranges): return .set(RuleRegex.ScalarSet(ranges: ranges))
            }
        }
    }

    /// Parses a bracket class; the `[` at `start` has been consumed.
    mutating func parseClass(openedAt start: Int) throws(RuleRegexError) -> RuleRegex.ScalarSet {
        var isNegated = false
        if peek() == "^" {
            isNegated = true
            advance()
        }
        if peek() == "]" {
            throw failure("empty character class; write \\] for a literal ']'", at: offset)
        }
        var ranges: [ClosedRange<UInt32>] = []
        while true {
            guard let scalar = peek() else { throw failure("missing ']' for the class opened here", at: start) }
            if scalar == "]" {
                advance()
                break
            }
            let itemStart = offset
            switch try parseClassItem(classStart: start) {
            case .ranges(let shorthand):
                ranges += shorthand
            case .scalar(let low):
                guard peek() == "-", let after = peek(1), after != "]" else {
                    ranges.append(low.value...low.value)
                    continue
                }
                advance()
                let highStart = offset
                guard case .scalar(let high) = try parseClassItem(classStart: start) else {
                    throw failure("a shorthand such as \\d cannot end a range", at: highStart)
                }
                guard low <= high else {
                    throw failure("invalid range '\(low)-\(high)': its start is after its end", at: itemStart)
                }
                ranges.append(low.value...high.value)
            }
        }
        return RuleRegex.ScalarSet(
            ranges: ranges, isNegated: isNegated, foldsCase: flags.contains(.caseInsensitive))
    }

    private mutating func parseClassItem(classStart: Int) throws(RuleRegexError) -> Item {
        let start = offset
        guard let scalar = peek() else { throw failure("missing ']' for the class opened here", at: classStart) }
        advance()
        switch scalar {
        case "\\":
            if peek() == "b" || peek() == "B" {
                throw failure("\\b and \\B are not allowed inside a class", at: start)
            }
            return try parseEscapeBody(at: start)
        case "[":
            throw failure(
                "'[' inside a class must be written \\[ (nested and POSIX classes are not supported)", at: start)
        default:
            return .scalar(scalar)
        }
    }

    /// Parses what follows a backslash (at `start`, consumed), in or out of a class.
    private mutating func parseEscapeBody(at start: Int) throws(RuleRegexError) -> Item {
        guard let letter = peek() else { throw failure("pattern ends with a lone '\\'", at: start) }
        advance()
        typealias Set = RuleRegex.ScalarSet
        switch letter {
        case "d": return .ranges(Set.digit)
        case "D": return .ranges(Set.complement(Set.digit))
        case "w": return .ranges(Set.word)
        case "W": return .ranges(Set.complement(Set.word))
        case "s": return .ranges(Set.space)
        case "S": return .ranges(Set.complement(Set.space))
        case "t": return .scalar("\t")
        case "n": return .scalar("\n")
        case "r": return .scalar("\r")
        case "f": return .scalar("\u{0C}")
        case "v": return .scalar("\u{0B}")
        case "1"..."9", "k", "g":
            throw failure("backreferences are not supported: rule regexes must match in linear time", at: start)
        case "p", "P":
            throw failure("Unicode property classes (\\p{…}) are not supported", at: start)
        case "A", "z", "Z":
            throw failure("\\\(letter) is not supported; use ^ and $", at: start)
        default:
            // Any ASCII punctuation may be escaped to stand for itself, as in RE2 and PCRE.
            if letter.isASCII, letter.value > 0x20, letter.value < 0x7F, !letter.properties.isAlphabetic,
                !("0"..."9").contains(letter)
            {
                return .scalar(letter)
            }
            throw failure("unsupported escape '\\\(letter)'", at: start)
        }
    }
}
