/// A regular expression from a rules file, compiled once at load.
///
/// Matching is an unanchored search, like `grep -E`. `(?i)` at the start makes it case-insensitive.
/// The text searched is bounded to ``maximumInputBytes`` so that no error string, however long,
/// can make classification expensive.
public struct RuleRegex: Sendable {
    /// Texts longer than this are searched in their first `maximumInputBytes` bytes only.
    public static let maximumInputBytes = 4096

    /// The pattern as written in the rules file.
    public let pattern: String
    // Regex is immutable after compilation; its lazily built program is guarded internally.
    nonisolated(unsafe) private let compiled: Regex<AnyRegexOutput>

    /// Compiles `pattern`; throws ``RuleRegexError`` describing the syntax problem.
    public init(_ pattern: String) throws(RuleRegexError) {
        self.pattern = pattern
        do {
            self.compiled = try Regex(pattern)
        } catch {
            throw RuleRegexError(message: "invalid regex: \(error)", offset: nil)
        }
    }

    /// Whether the pattern occurs anywhere in `text` (its first ``maximumInputBytes`` bytes).
    public func matches(_ text: String) -> Bool {
        let bounded: Substring
        if text.utf8.count > Self.maximumInputBytes {
            let end = text.utf8.index(text.utf8.startIndex, offsetBy: Self.maximumInputBytes)
            bounded = text[..<end]
        } else {
            bounded = text[...]
        }
        return (try? compiled.firstMatch(in: bounded)) != nil
    }
}

/// A regex that does not compile.
public struct RuleRegexError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, fit for `FILE:LINE:COLUMN: message`.
    public var message: String
    /// The 0-based character offset of the problem within the pattern, when known.
    public var offset: Int?

    public var description: String { message }
}
