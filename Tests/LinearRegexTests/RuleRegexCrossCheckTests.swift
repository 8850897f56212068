import RetryTesting
import Testing

@testable import LinearRegex

/// Random patterns from the supported subset, each rendered twice: in the rule dialect and in
/// Swift `Regex` syntax with the same meaning (`^` `$` become `\A` `\z` outside `(?m)`, because
/// Swift's `$` also matches before a final newline).
///
/// Left out, because Swift `Regex` cannot serve as a reference for them: `\b` and `\B` (Swift's
/// default boundaries follow UAX #29, its `.simple` ones miss digits, and without lookbehind the
/// ASCII definition cannot be spelled), and `ς` in texts (Swift's `(?i)` does not relate it to
/// `Σ`; the rule dialect does, because ς's uppercase form is Σ). The syntax table
/// covers both.
struct RuleRegexPatternGenerator {
    private var random: SeededGenerator
    private var multiline = false

    /// Scalars for literals; `\n` and `\.` are escapes, identical in both dialects.
    private static let literals = ["a", "b", "c", "A", "B", "0", "1", "_", " ", "-", "é", "É", "σ", "Σ", "\\n", "\\."]
    private static let classMembers = [
        "a", "b", "A", "0", "_", " ", "é", "Σ", "\\-", "\\n", "a-c", "A-Z", "0-9", "\\d", "\\w", "\\s", "\\W",
    ]
    private static let quantifiers = [
        "*", "+", "?", "*?", "+?", "??", "{0}", "{1}", "{2}", "{3}", "{0,}", "{1,}", "{2,}", "{0,1}", "{1,3}", "{2,4}",
    ]
    /// Scalars for texts: everything the patterns mention, plus `C` and `.`. Each is one scalar and
    /// one character, so Swift's grapheme-cluster matching agrees with scalar matching on them.
    static let textScalars: [Character] = [
        "a", "b", "c", "A", "B", "C", "0", "1", "_", " ", "-", ".", "\n", "é", "É", "σ", "Σ",
    ]

    /// A generator whose patterns and texts are fixed by `seed`.
    init(seed: UInt64) {
        self.random = SeededGenerator(seed: seed)
    }

    /// A pattern in the rule dialect and the same pattern for Swift `Regex`.
    mutating func pattern() -> (rule: String, swift: String) {
        let flags = ["", "", "(?i)", "(?m)", "(?s)", "(?im)"].randomElement(using: &random) ?? ""
        multiline = flags.contains("m")
        let body = alternation(depth: 0)
        return (flags + body.rule, flags + body.swift)
    }

    /// A text of up to `maximumLength` scalars drawn from ``textScalars``.
    mutating func text(maximumLength: Int = 12) -> String {
        let length = Int.random(in: 0...maximumLength, using: &random)
        return String((0..<length).compactMap { _ in Self.textScalars.randomElement(using: &random) })
    }

    private mutating func alternation(depth: Int) -> (rule: String, swift: String) {
        let branches = (0..<Int.random(in: 1...(depth < 2 ? 3 : 1), using: &random)).map { _ in
            concatenation(depth: depth)
        }
        return (branches.map(\.rule).joined(separator: "|"), branches.map(\.swift).joined(separator: "|"))
    }

    private mutating func concatenation(depth: Int) -> (rule: String, swift: String) {
        var rule = ""
        var swift = ""
        for _ in 0..<Int.random(in: 0...4, using: &random) {
            let atom = self.atom(depth: depth)
            var quantifier = ""
            if atom.repeatable && Int.random(in: 0..<3, using: &random) == 0 {
                quantifier = Self.quantifiers.randomElement(using: &random) ?? ""
            }
            rule += atom.rule + quantifier
            swift += atom.swift + quantifier
        }
        return (rule, swift)
    }

    private mutating func atom(depth: Int) -> (rule: String, swift: String, repeatable: Bool) {
        switch Int.random(in: 0..<20, using: &random) {
        case 0..<8:
            let literal = Self.literals.randomElement(using: &random) ?? "a"
            return (literal, literal, true)
        case 8:
            return (".", ".", true)
        case 9..<11:
            let shorthand = ["\\d", "\\D", "\\w", "\\W", "\\s", "\\S"].randomElement(using: &random) ?? "\\d"
            return (shorthand, shorthand, true)
        case 11..<14:
            let members = (0..<Int.random(in: 1...3, using: &random)).compactMap { _ in
                Self.classMembers.randomElement(using: &random)
            }
            let negation = Bool.random(using: &random) ? "^" : ""
            let set = "[" + negation + members.joined() + "]"
            return (set, set, true)
        case 14..<17 where depth < 3:
            let inner = alternation(depth: depth + 1)
            let open = Bool.random(using: &random) ? "(" : "(?:"
            return (open + inner.rule + ")", open + inner.swift + ")", true)
        case 17..<19:
            return ("^", multiline ? "^" : "\\A", false)
        default:
            return ("$", multiline ? "$" : "\\z", false)
        }
    }
}

@Suite("RuleRegex cross-check against Swift Regex")
struct RuleRegexCrossCheckTests {
    /// Swift `Regex` configured for the rule dialect's semantics: ASCII `\d` `\w` `\s`.
    ///
    /// Not `.matchingSemantics(.unicodeScalar)`: combined with ASCII-only classes it misses matches
    /// (Swift 6.3: `[^A-Z\\Wé]` does not find `0` in `-é-0Σ`); the generated texts contain only
    /// single-scalar characters, on which grapheme-cluster matching means the same.
    private static func reference(_ pattern: String) throws -> Regex<AnyRegexOutput> {
        try Regex(pattern).asciiOnlyCharacterClasses()
    }

    @Test("agrees with Swift Regex on random patterns and texts", arguments: 0..<40)
    func agreesWithSwiftRegex(seed: UInt64) throws {
        var generator = RuleRegexPatternGenerator(seed: seed)
        var compared = 0
        var found = 0
        for _ in 0..<25 {
            let pattern = generator.pattern()
            let ours = try RuleRegex(pattern.rule)
            let reference = try Self.reference(pattern.swift)
            for _ in 0..<12 {
                let text = generator.text()
                let expected = try reference.firstMatch(in: text) != nil
                #expect(
                    ours.matches(text) == expected,
                    "pattern \(pattern.rule.debugDescription) text \(text.debugDescription) Swift: \(expected)")
                compared += 1
                if expected { found += 1 }
            }
        }
        // Both answers occur often enough for the comparison to mean something.
        #expect(compared == 300)
        #expect(found > 30 && found < 270, "\(found) of \(compared) texts matched")
    }

    /// Table vectors where the rule dialect means something Swift `Regex` does not, on purpose.
    static let intentionalDifferences: Set<String> = [
        "(?i)Σ"  // ς folds to Σ here, as in RE2; Swift compares lowercase forms (σ ≠ ς).
    ]

    @Test("agrees with Swift Regex on the syntax table", arguments: RuleRegexTests.syntax)
    func agreesOnSyntaxTable(_ vector: RuleRegexVector) throws {
        // Anchors and boundaries are spelled differently in Swift (see the generator's notes).
        let pattern = vector.pattern
        let anchors = ["$", "^", "\\b", "\\B"]
        guard !anchors.contains(where: pattern.contains), !Self.intentionalDifferences.contains(pattern) else {
            return
        }
        let reference = try Regex(pattern).matchingSemantics(.unicodeScalar).asciiOnlyCharacterClasses()
        let found = try reference.firstMatch(in: vector.text) != nil
        #expect(found == vector.matches)
    }
}
