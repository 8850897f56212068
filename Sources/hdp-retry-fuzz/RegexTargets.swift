import LinearRegex

/// `regex` and `regex-swift`: the rules' linear-time regex engine.
enum RegexTargets {
    // MARK: regex

    static let compile = FuzzTarget(
        name: "regex",
        summary: "rule regexes: compile any pattern, search texts; grouping is transparent",
        maximumLength: 1024,
        run: runCompile)

    /// Texts searched when the input brings none.
    static let defaultTexts = [
        "", "a", "prover timeout after 30s", "Connection RESET by peer\n503 Service Unavailable", "résumé ΣΑΣ ς",
    ]

    /// `regex`: the input is a pattern, then texts, separated by `0xFF` bytes (never UTF-8).
    ///
    /// Properties:
    /// - compiling never crashes; a refused pattern's error offset lies within the pattern;
    /// - searching never crashes (and, under libFuzzer's `-timeout`, never stalls);
    /// - grouping is transparent: after the leading flags, `(?:P)` compiles whenever `P` does and
    ///   finds exactly what `P` finds, and so does `(?:P)|(?:P)` when it is not too large (checked on
    ///   one input in four);
    /// - without anchors or escapes, a match survives padding the text on both sides;
    /// - a match must end within the first ``RuleRegex/maximumInputBytes`` bytes: for a pattern
    ///   without `$`, `\b` or `\B`, a long text is searched exactly like its first 4 KiB.
    static func runCompile(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        let pieces = bytes.pieces(separatedBy: 0xFF).map { String(decoding: $0, as: UTF8.self) }
        let pattern = pieces[0]
        let texts = pieces.count > 1 ? Array(pieces.dropFirst()) : defaultTexts + [pattern]

        let regex: RuleRegex
        do {
            regex = try RuleRegex(pattern)
        } catch {
            if let offset = error.offset {
                try require(
                    offset >= 0 && offset <= pattern.count,
                    "error offset \(offset) outside the pattern \(shown(pattern)) (\(error.message))")
            }
            return
        }
        let found = texts.map(regex.matches)

        let (flags, body) = splitLeadingFlags(pattern)
        let grouped: RuleRegex
        do {
            grouped = try RuleRegex(flags + "(?:" + body + ")")
        } catch {
            throw PropertyViolation(message: "\(shown(pattern)) compiles but not as a group: \(error.message)")
        }
        for (text, expected) in zip(texts, found) {
            try require(
                grouped.matches(text) == expected,
                "\(shown(pattern)) and its group disagree on \(shown(text)) (plain: \(expected))")
        }
        // One input in four (it doubles the program): alternation of equal branches changes nothing.
        if bytes.first.map({ $0 % 4 == 0 }) == true,
            let twice = try? RuleRegex(flags + "(?:" + body + ")|(?:" + body + ")")
        {
            for (text, expected) in zip(texts, found) {
                try require(
                    twice.matches(text) == expected,
                    "\(shown(pattern)) and P|P disagree on \(shown(text)) (plain: \(expected))")
            }
        }

        // By scalars: `^` followed by a combining mark is one Character, and still an anchor.
        let anchorFree = !body.unicodeScalars.contains { $0 == "^" || $0 == "$" || $0 == "\\" }
        if anchorFree {
            for (text, expected) in zip(texts, found)
            where expected && text.utf8.count + 2 <= RuleRegex.maximumInputBytes {
                try require(
                    regex.matches("\u{1}" + text + "\u{1}"),
                    "\(shown(pattern)) matches \(shown(text)) but not the same text padded")
            }
        }

        // The 4 KiB bound, on a text repeated past it (one input in 64: it costs 8 KiB of search).
        let noLookahead = !pattern.unicodeScalars.contains { $0 == "$" || $0 == "\\" }
        if noLookahead, bytes.last.map({ $0 % 64 == 0 }) == true, let seed = texts.first(where: { !$0.isEmpty }) {
            var long = seed
            while long.utf8.count <= RuleRegex.maximumInputBytes { long += seed }
            var prefix = ""
            var length = 0
            for scalar in long.unicodeScalars {
                length += UTF8.width(scalar)
                if length > RuleRegex.maximumInputBytes { break }
                prefix.unicodeScalars.append(scalar)
            }
            try require(
                regex.matches(long) == regex.matches(prefix),
                "\(shown(pattern)) searches a long text and its first 4 KiB differently")
        }
    }

    /// The flag groups at the very start (`(?i)`, `(?ms)`, …) and the rest of the pattern, split by
    /// scalars, as the engine reads patterns (`)` followed by a combining mark is one Character).
    static func splitLeadingFlags(_ pattern: String) -> (flags: String, body: String) {
        let scalars = Array(pattern.unicodeScalars)
        var start = 0
        while start + 1 < scalars.count, scalars[start] == "(", scalars[start + 1] == "?" {
            var end = start + 2
            while end < scalars.count, "ims".unicodeScalars.contains(scalars[end]) { end += 1 }
            guard end > start + 2, end < scalars.count, scalars[end] == ")" else { break }
            start = end + 1
        }
        var flags = String.UnicodeScalarView()
        flags.append(contentsOf: scalars[..<start])
        var body = String.UnicodeScalarView()
        body.append(contentsOf: scalars[start...])
        return (String(flags), String(body))
    }

    // MARK: regex-swift

    static let differential = FuzzTarget(
        name: "regex-swift",
        summary: "rule regexes against Swift Regex where both dialects agree (classes, repetition, |, ^ $, (?ims))",
        maximumLength: 256,
        run: runDifferential)

    /// `regex-swift`: the input chooses a pattern from the subset both dialects define alike, and
    /// texts; the engine must answer as Swift `Regex` does (a backtracking engine, so patterns stay
    /// small and texts short).
    static func runDifferential(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        var generator = PatternGenerator(input: FuzzInput(bytes))
        let pattern = generator.pattern()
        let regex: RuleRegex
        do {
            regex = try RuleRegex(pattern.rule)
        } catch {
            throw PropertyViolation(message: "refused \(shown(pattern.rule)): \(error.message)")
        }
        let reference: Regex<AnyRegexOutput>
        do {
            // ASCII `\d` `\w` `\s`, as in the rule dialect.
            reference = try Regex(pattern.swift).asciiOnlyCharacterClasses()
        } catch {
            throw PropertyViolation(message: "Swift Regex refused \(shown(pattern.swift)): \(error)")
        }
        for _ in 0..<4 {
            let text = generator.text()
            let expected: Bool
            do {
                expected = try reference.firstMatch(in: text) != nil
            } catch {
                throw PropertyViolation(message: "Swift Regex failed on \(shown(text)): \(error)")
            }
            try require(
                regex.matches(text) == expected,
                "pattern \(shown(pattern.rule)) (Swift \(shown(pattern.swift))) text \(shown(text)): "
                    + "RuleRegex \(!expected), Swift Regex \(expected)")
            if generator.isExhausted { break }
        }
    }
}

/// Patterns from the subset where the rule dialect and Swift `Regex` mean the same, each written in
/// both (`^` `$` become `\A` `\z` outside `(?m)`, because Swift's `$` also matches before a final
/// newline), and texts over the scalars they mention.
///
/// Left out on purpose: `\b` `\B` (Swift's boundaries follow UAX #29 or miss digits) and `ς` in
/// texts (the rule dialect folds it to `Σ` under `(?i)`, as RE2 does; Swift does not). Every text
/// scalar is one character, so Swift's grapheme-cluster matching means scalar matching here.
struct PatternGenerator {
    var input: FuzzInput
    private var multiline = false

    static let literals = ["a", "b", "c", "A", "B", "0", "1", "_", " ", "-", "é", "É", "σ", "Σ", "\\n", "\\.", "\\-"]
    static let classMembers = [
        "a", "b", "A", "0", "_", " ", "é", "Σ", "\\-", "\\n", "a-c", "A-Z", "0-9", "\\d", "\\w", "\\s", "\\W", "\\S",
        "\\D",
    ]
    static let quantifiers = [
        "*", "+", "?", "*?", "+?", "??", "{0}", "{1}", "{2}", "{3}", "{0,}", "{1,}", "{2,}", "{0,1}", "{1,3}", "{2,4}",
    ]
    static let flags = ["", "", "", "(?i)", "(?m)", "(?s)", "(?im)", "(?is)", "(?ims)"]
    static let textScalars: [Character] = [
        "a", "b", "c", "A", "B", "C", "0", "1", "_", " ", "-", ".", "\n", "é", "É", "σ", "Σ",
    ]

    init(input: FuzzInput) {
        self.input = input
    }

    var isExhausted: Bool { input.isExhausted }

    /// A pattern in the rule dialect and the same pattern for Swift `Regex`.
    mutating func pattern() -> (rule: String, swift: String) {
        let flags = input.pick(Self.flags)
        multiline = flags.contains("m")
        let body = alternation(depth: 0)
        return (flags + body.rule, flags + body.swift)
    }

    /// A text of up to 10 scalars.
    mutating func text() -> String {
        let length = input.int(in: 0...10)
        return String((0..<length).map { _ in input.pick(Self.textScalars) })
    }

    /// Part of a pattern in both dialects; whether it holds a quantifier or a group; whether every
    /// way of matching it consumes a scalar.
    typealias Piece = (rule: String, swift: String, nested: Bool, consumes: Bool)

    private mutating func alternation(depth: Int) -> Piece {
        let count = input.int(in: 1...(depth < 2 ? 3 : 1))
        let branches = (0..<count).map { _ in concatenation(depth: depth) }
        return (
            branches.map(\.rule).joined(separator: "|"), branches.map(\.swift).joined(separator: "|"),
            branches.contains(where: \.nested), branches.allSatisfy(\.consumes)
        )
    }

    private mutating func concatenation(depth: Int) -> Piece {
        var piece: Piece = ("", "", false, false)
        for _ in 0..<input.int(in: 0...4) {
            let atom = self.atom(depth: depth)
            var quantifier = ""
            if atom.repeatable, input.oneIn(3) {
                // Repeating a group that itself repeats, nests or may match nothing (`(a*)*`,
                // `(.*.*)+`, `((a|a)|(a|a))*`, `(?:){2,4}(?:){2,4}…`) sends Swift's backtracking engine,
                // the reference here, into exponential time; the rule engine meets those patterns in
                // `regex` (under libFuzzer's -timeout).
                quantifier = input.pick(atom.piece.nested ? Self.optionalQuantifiers : Self.quantifiers)
            }
            piece.rule += atom.piece.rule + quantifier
            piece.swift += atom.piece.swift + quantifier
            piece.nested = piece.nested || atom.piece.nested || !quantifier.isEmpty
            piece.consumes = piece.consumes || (atom.piece.consumes && quantifier.isEmpty)
        }
        return piece
    }

    /// Quantifiers that match their atom at most once.
    static let optionalQuantifiers = ["?", "??", "{0}", "{1}", "{0,1}"]

    private mutating func atom(depth: Int) -> (piece: Piece, repeatable: Bool) {
        switch input.int(in: 0...19) {
        case 0..<8:
            let literal = input.pick(Self.literals)
            return ((literal, literal, false, true), true)
        case 8:
            return ((".", ".", false, true), true)
        case 9..<11:
            let shorthand = input.pick(["\\d", "\\D", "\\w", "\\W", "\\s", "\\S"])
            return ((shorthand, shorthand, false, true), true)
        case 11..<14:
            let members = (0..<input.int(in: 1...3)).map { _ in input.pick(Self.classMembers) }
            let set = "[" + (input.oneIn(2) ? "^" : "") + members.joined() + "]"
            return ((set, set, false, true), true)
        case 14..<17 where depth < 3:
            let inner = alternation(depth: depth + 1)
            let open = input.oneIn(2) ? "(" : "(?:"
            // A group may repeat when it holds plain atoms only and every branch consumes something
            // (`(ab|c)*`), not quantifiers, groups or empty branches (`(?:){2,4}`, `($)+`).
            let nested = inner.nested || inner.rule.contains("(") || !inner.consumes
            return ((open + inner.rule + ")", open + inner.swift + ")", nested, inner.consumes), true)
        case 17..<19:
            return (("^", multiline ? "^" : "\\A", false, false), false)
        default:
            return (("$", multiline ? "$" : "\\z", false, false), false)
        }
    }
}
