/// A regular expression from a rules file, compiled once at load and matched in linear time.
///
/// Rules classify untrusted webhook payloads, so a pattern must never let a payload stall the
/// listener. Backtracking engines (Swift's `Regex`, PCRE) can take exponential time on patterns
/// such as `(a+)+$`; this one compiles the pattern to a Thompson NFA and simulates it as a Pike VM
/// (the RE2 approach), so a search costs at most (program size × scalars searched) steps, with no
/// backtracking whatever the pattern or the text.
///
/// Matching is an unanchored search, like `grep -E`: the pattern may occur anywhere in the text.
/// Matching is on Unicode scalars, not grapheme clusters: `é` written as `e` + U+0301 is two.
///
/// ## Dialect
///
/// | Syntax | Meaning |
/// |---|---|
/// | `abc`, `é` | literal scalars |
/// | `.` | any scalar except `\n` (any scalar at all under `(?s)`) |
/// | `^` `$` | start and end of the text (of a line too, under `(?m)`) |
/// | `\b` `\B` | ASCII word boundary, and not one |
/// | `[abc]` `[a-z0-9_]` `[^…]` | classes, ranges, negation; `-` first or last is literal |
/// | `\d` `\w` `\s`, `\D` `\W` `\S` | `[0-9]`, `[0-9A-Za-z_]`, `[\t\n\v\f\r ]` and complements (ASCII, as in RE2) |
/// | `\t` `\n` `\r` `\f` `\v` | control characters |
/// | `\.` `\\` `\(` `\[` `\{` `\|` `\*` `\-` `\/` … | any ASCII punctuation, literally |
/// | `( … )` `(?: … )` | grouping (nothing is captured) |
/// | `a\|b` | alternation |
/// | `*` `+` `?` | repetition; lazy forms `*?` `+?` `??` are accepted (same yes/no answer) |
/// | `{n}` `{n,}` `{n,m}` | counted repetition, n and m at most 1000 |
/// | `(?i)` `(?m)` `(?s)` `(?ims)` | flags, only at the very start of the pattern |
///
/// `(?i)` folds ASCII and the simple (one-scalar) Unicode lower- and uppercase mappings.
/// Refused with an error and an offset: backreferences (`\1`, `\k<…>`), lookaround (`(?=`, `(?!`,
/// `(?<=`, `(?<!`), atomic groups, possessive quantifiers (`a*+`) and named groups, because they
/// cannot be matched in linear time (or, for named groups, exist only to serve backreferences);
/// also `\p{…}`, `\A` `\z`, POSIX `[[:alpha:]]`, scoped flags `(?i: … )`, an unescaped `{` that is
/// not a repetition, and a quantifier applied to another quantifier or to an anchor. A pattern
/// that compiles to more than 10 000 instructions (`(a{1000}){20}`) is refused as too large.
public struct RuleRegex: Sendable {
    /// Texts longer than this are searched in their first `maximumInputBytes` bytes only.
    ///
    /// Error strings can be as long as the webhook body (64 KiB); their first 4 KiB are what
    /// decides a classification, and the bound keeps the worst case of a search (program size ×
    /// text length) small. A match must end within the bound; `$` and `\b` still look at the
    /// real next scalar, so `$` never matches where a long text was cut.
    public static let maximumInputBytes = 4096

    /// The largest count allowed in `{n}`, `{n,}` and `{n,m}`.
    static let maximumRepetition = 1000

    /// The pattern as written in the rules file.
    public let pattern: String
    private let program: Program

    /// Compiles `pattern`; throws ``RuleRegexError`` describing the syntax problem.
    public init(_ pattern: String) throws(RuleRegexError) {
        self.pattern = pattern
        do throws(RuleRegexError) {
            var parser = Parser(pattern)
            self.program = try Compiler.compile(try parser.parse())
        } catch {
            // The parser counts scalars; the rules loader reports columns in characters.
            throw RuleRegexError(
                message: error.message,
                offset: error.offset.map { Self.characterOffset(ofScalarOffset: $0, in: pattern) })
        }
    }

    /// Whether the pattern occurs anywhere in `text` (its first ``maximumInputBytes`` bytes).
    public func matches(_ text: String) -> Bool {
        program.search(text, byteLimit: Self.maximumInputBytes)
    }

    /// The offset, in characters, of the character containing the scalar at `scalarOffset`.
    private static func characterOffset(ofScalarOffset scalarOffset: Int, in pattern: String) -> Int {
        var scalars = 0
        var characters = 0
        for character in pattern {
            scalars += character.unicodeScalars.count
            if scalars > scalarOffset { return characters }
            characters += 1
        }
        return characters
    }
}

/// A regex that does not compile.
public struct RuleRegexError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, fit for `FILE:LINE:COLUMN: message`.
    public var message: String
    /// The 0-based character offset of the problem within the pattern, when known.
    public var offset: Int?

    /// The message, so that interpolating the error reads naturally.
    public var description: String { message }
}
