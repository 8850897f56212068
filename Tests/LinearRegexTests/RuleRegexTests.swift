import RetryTesting
import Testing

@testable import LinearRegex

/// A pattern, a text, and whether the pattern should be found in the text.
struct RuleRegexVector: Sendable, CustomTestStringConvertible {
    /// The pattern, in the rule dialect.
    let pattern: String
    /// The text searched.
    let text: String
    /// Whether the pattern occurs in the text.
    let matches: Bool

    /// A vector; unlabelled so that tables stay one line per case.
    init(_ pattern: String, _ text: String, _ matches: Bool) {
        self.pattern = pattern
        self.text = text
        self.matches = matches
    }

    /// The vector, with long texts abbreviated to their start and length.
    var testDescription: String {
        let shown =
            text.count > 40 ? "\(text.prefix(12).debugDescription)… (\(text.utf8.count) bytes)" : text.debugDescription
        return "\(pattern.debugDescription) ~ \(shown) → \(matches)"
    }
}

/// A pattern that must be rejected, where, and with what in its message.
struct RuleRegexRejection: Sendable, CustomTestStringConvertible {
    /// The pattern, which must not compile.
    let pattern: String
    /// The expected 0-based character offset of the problem.
    let offset: Int?
    /// Text the error message must contain.
    let fragment: String

    /// A rejection; unlabelled so that tables stay one line per case.
    init(_ pattern: String, _ offset: Int?, _ fragment: String) {
        self.pattern = pattern
        self.offset = offset
        self.fragment = fragment
    }

    /// The pattern (abbreviated) and the offset.
    var testDescription: String { "\(pattern.prefix(40).debugDescription) @\(offset.map(String.init) ?? "nil")" }
}

private func repeated(_ string: String, _ count: Int) -> String { String(repeating: string, count: count) }

@Suite("RuleRegex")
struct RuleRegexTests {
    static let syntax: [RuleRegexVector] = [
        // Literals, on Unicode scalars.
        .init("abc", "xxabcxx", true), .init("abc", "abx", false), .init("", "", true), .init("", "text", true),
        .init("é", "café", true), .init("café", "CAFÉ", false), .init("日本", "こんにちは日本語", true),
        .init("a.c", "a\u{1F600}c", true), .init("^.$", "é", true), .init("^.$", "e\u{301}", false),
        .init("^..$", "e\u{301}", true), .init("e", "e\u{301}", true),
        // Dot.
        .init(".", "", false), .init("a.c", "abc", true), .init("a.c", "a\nc", false), .init("(?s)a.c", "a\nc", true),
        // Anchors and flags.
        .init("^abc", "abcd", true), .init("^abc", "xabc", false), .init("abc$", "xabc", true),
        .init("abc$", "abc\n", false), .init("^$", "", true), .init("^$", "\n", false),
        .init("^b", "a\nb", false), .init("(?m)^b", "a\nb", true), .init("a$", "a\nb", false),
        .init("(?m)a$", "a\nb", true), .init("(?m)^$", "a\n\nb", true), .init("(?ims)^B.C$", "a\nb\nc", true),
        .init("(?i)(?m)^b", "a\nB", true), .init("x^", "x", false), .init("$x", "x", false),
        // Word boundaries (ASCII word characters).
        .init("\\bcat\\b", "a cat sat", true), .init("\\bcat\\b", "concat", false), .init("\\Bcat", "concat", true),
        .init("\\b", "", false), .init("\\B", "", true), .init("\\b502\\b", "HTTP 502 Bad", true),
        .init("\\b502\\b", "15025", false), .init("\\bé", " é", false),
        // Classes.
        .init("[abc]", "xxb", true), .init("[abc]", "xyz", false), .init("[^a-z0-9_]", "abc_09", false),
        .init("[^a-z0-9_]", "abc-09", true), .init("[a-]", "-", true), .init("[-a]", "-", true),
        .init("[\\]]", "]", true), .init("[\\[]", "[", true), .init("[é-ë]", "ê", true), .init("[é-ë]", "e", false),
        .init("[^a]", "\n", true), .init("[\\D]", "a", true), .init("[\\D]", "7", false),
        .init("[\\s\\d]", "\t", true), .init("^[\\w-]+@", "a-b_9@x", true), .init("[.]", "a", false),
        .init("[\\^]", "^", true), .init("[a^]", "^", true), .init("]", "]", true), .init("}", "}", true),
        // Escapes.
        .init("\\d", "a7", true), .init("\\d", "a", false), .init("\\d", "٣", false), .init("^\\D+$", "ab", true),
        .init("\\w", "_", true), .init("\\w", "é", false), .init("^\\W$", "é", true), .init("\\s", "a\tb", true),
        .init("\\s", "a\u{A0}b", false), .init("^\\S+$", "a-b", true), .init("\\.", "a", false),
        .init("\\.", ".", true), .init("\\\\", "\\", true), .init("\\(\\)", "()", true), .init("\\[\\]", "[]", true),
        .init("\\{\\}", "{}", true), .init("\\|", "|", true), .init("\\*\\+\\?", "*+?", true),
        .init("\\^\\$", "^$", true), .init("\\-\\/", "-/", true), .init("\\t", "\t", true), .init("\\n", "\n", true),
        .init("\\r", "\r", true), .init("\\f\\v", "\u{0C}\u{0B}", true), .init("\\\"\\#\\:", "\"#:", true),
        // Groups and alternation.
        .init("(ab)+c", "ababc", true), .init("(?:ab)+c", "aac", false), .init("a|b", "b", true),
        .init("cat|dog", "hotdog", true), .init("(cat|dog)s", "dog", false), .init("a(|b)c", "ac", true),
        .init("()", "x", true), .init("a|", "x", true), .init("^(?:a|bc|d)$", "bc", true),
        .init("^(?:a|bc|d)$", "b", false),
        // Quantifiers, greedy and lazy.
        .init("ab*c", "ac", true), .init("ab+c", "ac", false), .init("ab?c", "abbc", false),
        .init("ab*?c", "abbc", true), .init("ab+?c", "abc", true), .init("ab??c", "ac", true),
        // Counted repetition.
        .init("^a{3}$", "aaa", true), .init("^a{3}$", "aa", false), .init("^a{2,}$", "aaaaa", true),
        .init("^a{2,}$", "a", false), .init("^a{2,3}$", "aaaa", false), .init("^a{0}$", "", true),
        .init("^(ab){1,2}$", "abab", true), .init("^a{2,3}?$", "aaa", true), .init("^x{0,0}y", "y", true),
        .init("^a{1000}$", repeated("a", 1000), true), .init("^a{1000}$", repeated("a", 999), false),
        .init("^a{0,1000}$", repeated("a", 1000), true), .init("^a{1,}b", "aaab", true),
        // Case-insensitivity: ASCII and simple Unicode mappings.
        .init("(?i)ERROR", "error", true), .init("(?i)error", "ERROR", true), .init("error", "ERROR", false),
        .init("(?i)café", "CAFÉ", true), .init("(?i)σ", "Σ", true), .init("(?i)Σ", "ς", true),
        .init("(?i)k", "\u{212A}", true), .init("(?i)[a-c]", "B", true), .init("(?i)[^a]", "A", false),
        .init("(?i)[A-Z]+", "xyz", true), .init("(?i)\\d", "X", false), .init("(?i)5", "5", true),
        // Loops whose body can be empty.
        .init("(a*)*b", "b", true), .init("(a*)+$", "b", true), .init("(|a)*c", "aac", true),
        .init("(^)*x", "yx", true), .init("(?:\\b)+x", "yx", false), .init("(a*)*$", "", true),
        // The SPEC's example patterns.
        .init("(?i)results (are )?missing", "Results missing for batch 7", true),
        .init("(?i)results (are )?missing", "prover: results are MISSING", true),
        .init("(?i)results (are )?missing", "results were missing", false),
        .init("(?i)connection (reset|refused)|50[234]|unavailable", "Connection refused by peer", true),
        .init("(?i)connection (reset|refused)|50[234]|unavailable", "dial tcp: connection RESET", true),
        .init("(?i)connection (reset|refused)|50[234]|unavailable", "HTTP 503 from gateway", true),
        .init("(?i)connection (reset|refused)|50[234]|unavailable", "HTTP 501 from gateway", false),
        .init("(?i)connection (reset|refused)|50[234]|unavailable", "Service UNAVAILABLE", true),
        .init("(?i)connection (reset|refused)|50[234]|unavailable", "connection closed", false),
    ]

    @Test("matches every syntax form", arguments: syntax)
    func matchesSyntax(_ vector: RuleRegexVector) throws {
        let regex = try RuleRegex(vector.pattern)
        #expect(regex.matches(vector.text) == vector.matches)
        #expect(regex.pattern == vector.pattern)
    }

    static let rejections: [RuleRegexRejection] = [
        .init("(", 0, "missing ')'"), .init("a(b(c)", 1, "missing ')'"), .init("a)", 1, "unmatched ')'"),
        .init("[abc", 0, "missing ']'"), .init("[a\\", 2, "lone '\\'"), .init("[]", 1, "empty character class"),
        .init("[^]", 2, "empty character class"), .init("x[z-a]", 2, "start is after its end"),
        .init("[a-\\d]", 3, "cannot end a range"), .init("[[:alpha:]]", 1, "POSIX"),
        .init("*a", 0, "nothing to repeat"), .init("a|+", 2, "nothing to repeat"), .init("{2}", 0, "nothing to repeat"),
        .init("a**", 2, "cannot follow another"), .init("a{2}{3}", 4, "cannot follow another"),
        .init("a*?*", 3, "cannot follow another"), .init("a*+", 2, "possessive"), .init("a{2}+", 4, "possessive"),
        .init("^*", 1, "cannot be repeated"), .init("\\b+", 2, "cannot be repeated"),
        .init("a{1001}", 1, "exceeds 1000"), .init("a{1,99999999999999999999}", 1, "exceeds 1000"),
        .init("a{3,2}", 1, "minimum above its maximum"), .init("a{", 1, "malformed repetition"),
        .init("a{x}", 1, "malformed repetition"), .init("x{,3}", 1, "malformed repetition"), .init("{", 0, "\\{"),
        .init("(a)\\1", 3, "backreferences"), .init("\\k<n>", 0, "backreferences"),
        .init("(?P=n)", 0, "backreferences"),
        .init("(?=a)", 0, "lookaround"), .init("b(?!a)", 1, "lookaround"), .init("(?<=a)b", 0, "lookaround"),
        .init("(?<!a)b", 0, "lookaround"), .init("(?<n>a)", 0, "named groups"), .init("(?P<n>a)", 0, "named groups"),
        .init("(?'n'a)", 0, "named groups"), .init("(?>a)", 0, "atomic groups"), .init("(?#note)", 0, "comment"),
        .init("(?", 0, "unknown group"), .init("a(?i)b", 1, "very start"), .init("(?i:a)", 0, "scoped flags"),
        .init("(?x)a", 2, "unsupported flag 'x'"), .init("(?i-s)a", 3, "unsupported flag '-'"),
        .init("\\", 0, "lone '\\'"), .init("ab\\", 2, "lone '\\'"), .init("\\p{L}", 0, "\\p"), .init("\\A", 0, "use ^"),
        .init("\\q", 0, "unsupported escape"), .init("\\0", 0, "unsupported escape"),
        .init("\\x41", 0, "unsupported escape"),
        .init("\\é", 0, "unsupported escape"), .init("[\\b]", 1, "inside a class"),
        .init("(a{1000}){20}", 9, "pattern too large"), .init("(?:a{1000}){11}", 11, "pattern too large"),
        .init(repeated("a", 10_001), nil, "pattern too large"), .init(repeated("ab", 5_001), nil, "pattern too large"),
        .init(repeated("(", 101) + repeated(")", 101), 100, "nested more than 100 deep"),
        // Offsets count characters, not scalars: `é` here is `e` + U+0301.
        .init("e\u{301}(", 1, "missing ')'"), .init("日本)", 2, "unmatched ')'"),
        .init("\u{1F1EB}\u{1F1F7}*+", 2, "possessive"),
    ]

    @Test("rejects unsupported or malformed syntax at the right offset", arguments: rejections)
    func rejects(_ rejection: RuleRegexRejection) {
        let error = #expect(throws: RuleRegexError.self) { try RuleRegex(rejection.pattern) }
        #expect(error?.offset == rejection.offset)
        #expect(error?.message.contains(rejection.fragment) == true, "\(error?.message ?? "no error")")
        #expect(error?.description == error?.message)
    }

    @Test(
        "explains that super-linear features are refused because matching is linear-time",
        arguments: ["(a)\\1", "(?=a)", "(?<!a)", "a++", "(?<n>a)", "(?>a)"])
    func linearTimeReason(_ pattern: String) {
        let error = #expect(throws: RuleRegexError.self) { try RuleRegex(pattern) }
        #expect(error?.message.contains("linear time") == true)
    }

    static let pathological: [RuleRegexVector] = [
        .init("(a+)+$", repeated("a", 4096) + "b", false), .init("(a+)+$", repeated("a", 4000) + "b", false),
        .init("(a+)+b", repeated("a", 4000) + "b", true), .init("(a|aa)*c", repeated("a", 4096), false),
        .init("(a|aa)*c", repeated("a", 4000) + "c", true), .init("(x+x+)+y", repeated("x", 4096), false),
        .init("(x+x+)+y", repeated("x", 4000) + "y", true), .init("^(a?){25}a{25}$", repeated("a", 25), true),
        .init("(.*a){20}", repeated("a", 19) + repeated("b", 4000), false),
        .init("(a*)*$", repeated("a", 4095) + "b", true),
        .init("(\\w+\\s?)+$", repeated("word ", 800) + "!", false),
        .init("^(a|a?)+$", repeated("a", 4000) + "b", false),
        .init("(?i)(?:a|A){200}b", repeated("a", 1000), false), .init("(?:a|A){200}b", repeated("A", 1000) + "b", true),
    ]

    @Test("finishes with the right answer on patterns that make backtracking engines explode", arguments: pathological)
    func pathologicalInputs(_ vector: RuleRegexVector) throws {
        #expect(try RuleRegex(vector.pattern).matches(vector.text) == vector.matches)
    }

    static let bounded: [RuleRegexVector] = [
        .init("needle", repeated("a", 60_000) + "needle", false),
        .init("needle", "needle" + repeated("a", 65_530), true),
        .init("a$", repeated("a", 65_536), false), .init("^a+$", repeated("a", 4096), true),
        .init("^a+$", repeated("a", 4097), false), .init("needle", repeated("a", 4093) + "needle", false),
        .init("needle", repeated("a", 4090) + "needle", true), .init("é", repeated("a", 4095) + "é", false),
        .init("é", repeated("a", 4094) + "é", true), .init("cat\\b", repeated("a", 4092) + " cat" + "s", false),
        .init("cat\\b", repeated("a", 4092) + " cat" + " ", true), .init("(a+)+$", repeated("a", 65_536) + "b", false),
        .init("(?i)RESULTS MISSING", "results missing" + repeated("x", 65_536), true),
    ]

    @Test("searches only the first maximumInputBytes bytes of a 64 KiB text", arguments: bounded)
    func boundedInput(_ vector: RuleRegexVector) throws {
        #expect(RuleRegex.maximumInputBytes == 4096)
        #expect(try RuleRegex(vector.pattern).matches(vector.text) == vector.matches)
    }

    @Test("is usable from concurrent tasks")
    func concurrentUse() async throws {
        let regex = try RuleRegex("(?i)connection (reset|refused)|50[234]|unavailable")
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask { regex.matches(index.isMultiple(of: 2) ? "HTTP 502" : "HTTP 200") }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 32)
    }
}
