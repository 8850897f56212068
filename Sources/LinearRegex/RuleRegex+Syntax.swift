extension RuleRegex {
    /// A parsed pattern: its tree and the flags of its leading `(?flags)` group.
    ///
    /// Flags apply to the whole pattern, which is why they are only accepted at its start.
    struct Syntax: Sendable {
        /// The pattern's tree.
        var root: Node
        /// The flags that apply to the whole pattern.
        var flags: Flags
    }

    /// The flags a pattern may set in a leading `(?ims)` group.
    struct Flags: OptionSet, Sendable, Hashable {
        /// One bit per flag.
        let rawValue: UInt8

        /// `i`: letters match their upper- and lowercase forms.
        static let caseInsensitive = Flags(rawValue: 1 << 0)
        /// `m`: `^` and `$` also match just after and just before a newline.
        static let multiline = Flags(rawValue: 1 << 1)
        /// `s`: `.` also matches a newline.
        static let dotMatchesNewline = Flags(rawValue: 1 << 2)
    }

    /// One node of a parsed pattern.
    ///
    /// There are no capture groups: a rule only asks whether the pattern occurs, so groups only
    /// delimit alternation and repetition.
    indirect enum Node: Sendable {
        /// Matches the empty string (an empty group or alternative).
        case empty
        /// One Unicode scalar, as written (case folding is applied when compiling).
        case literal(Unicode.Scalar)
        /// One scalar out of a set: a bracket class, `.`, `\d`, `\w`, `\s` and their negations.
        case set(ScalarSet)
        /// A zero-width test of the surrounding scalars.
        case assertion(Assertion)
        /// Each node in order.
        case concatenation([Node])
        /// Any one of the nodes.
        case alternation([Node])
        /// The node repeated `min` to `max` times (`max` nil: unbounded); `offset` is the
        /// quantifier's scalar offset, reported when the repetition makes the program too large.
        case repetition(Node, min: Int, max: Int?, offset: Int)
    }

    /// A zero-width assertion, judged from the scalars just before and just after a position.
    enum Assertion: Sendable, Hashable {
        /// `^`: the start of the text.
        case textStart
        /// `$`: the end of the text.
        case textEnd
        /// `^` under `(?m)`: the start of the text or just after `\n`.
        case lineStart
        /// `$` under `(?m)`: the end of the text or just before `\n`.
        case lineEnd
        /// `\b`: between an ASCII word scalar and a non-word scalar (or a text edge).
        case wordBoundary
        /// `\B`: not a word boundary.
        case notWordBoundary

        /// Whether the assertion holds between `previous` and `next` (nil at a text edge).
        func holds(previous: Unicode.Scalar?, next: Unicode.Scalar?) -> Bool {
            switch self {
            case .textStart: return previous == nil
            case .textEnd: return next == nil
            case .lineStart: return previous == nil || previous == "\n"
            case .lineEnd: return next == nil || next == "\n"
            case .wordBoundary: return Self.isWord(previous) != Self.isWord(next)
            case .notWordBoundary: return Self.isWord(previous) == Self.isWord(next)
            }
        }

        private static func isWord(_ scalar: Unicode.Scalar?) -> Bool {
            guard let value = scalar?.value else { return false }
            return ScalarSet.word.contains { $0.contains(value) }
        }
    }

    /// A set of scalars as sorted, disjoint, non-adjacent ranges of scalar values, possibly negated.
    ///
    /// Negation is kept as a flag rather than applied to the ranges because case folding must
    /// happen before it: under `(?i)`, `[^a]` rejects both `a` and `A`.
    struct ScalarSet: Sendable, Hashable {
        /// The scalar values in the set before negation.
        var ranges: [ClosedRange<UInt32>]
        /// Whether the set matches every scalar *not* in `ranges`.
        var isNegated: Bool
        /// Whether a scalar also matches when its simple lower- or uppercase form is in `ranges`.
        var foldsCase: Bool

        /// Builds a set, normalising `ranges` (sorted, merged).
        init(ranges: [ClosedRange<UInt32>], isNegated: Bool = false, foldsCase: Bool = false) {
            self.ranges = Self.normalized(ranges)
            self.isNegated = isNegated
            self.foldsCase = foldsCase
        }

        /// The largest Unicode scalar value.
        static let maximumScalar: UInt32 = 0x10FFFF
        /// `\d`: ASCII digits only, like RE2, so that a digit rule cannot be surprised by other scripts.
        static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
        /// `\w`: ASCII letters, digits and `_`.
        static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
        /// `\s`: tab, newline, vertical tab, form feed, carriage return and space.
        static let space: [ClosedRange<UInt32>] = [0x09...0x0D, 0x20...0x20]
        /// Everything but `\n`, for `.` without `(?s)`.
        static let notNewline: [ClosedRange<UInt32>] = [0...0x09, 0x0B...maximumScalar]

        /// Sorts `ranges` and merges overlapping or adjacent ones.
        static func normalized(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
            var merged: [ClosedRange<UInt32>] = []
            for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                    merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
                } else {
                    merged.append(range)
                }
            }
            return merged
        }

        /// The scalar values not in `ranges` (which must be normalised).
        static func complement(_ ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
            var result: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for range in ranges {
                if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
                if range.upperBound >= maximumScalar { return result }
                next = range.upperBound + 1
            }
            result.append(next...maximumScalar)
            return result
        }
    }
}

extension RuleRegex {
    /// Simple (one-scalar-to-one-scalar) case mappings, used by `(?i)`.
    ///
    /// ASCII is mapped without consulting Unicode tables because error texts are nearly all ASCII;
    /// other scalars use the Unicode lower- and uppercase mappings when they are a single scalar.
    enum CaseFolding {
        /// The simple lowercase form of `scalar` (itself when it has none).
        static func lowercase(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
            let value = scalar.value
            if value < 0x80 {
                return (0x41...0x5A).contains(value) ? Unicode.Scalar(UInt8(value + 0x20)) : scalar
            }
            guard scalar.properties.changesWhenLowercased else { return scalar }
            return single(scalar.properties.lowercaseMapping) ?? scalar
        }

        /// The simple uppercase form of `scalar` (itself when it has none).
        static func uppercase(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
            let value = scalar.value
            if value < 0x80 {
                return (0x61...0x7A).contains(value) ? Unicode.Scalar(UInt8(value - 0x20)) : scalar
            }
            guard scalar.properties.changesWhenUppercased else { return scalar }
            return single(scalar.properties.uppercaseMapping) ?? scalar
        }

        private static func single(_ mapping: String) -> Unicode.Scalar? {
            var scalars = mapping.unicodeScalars.makeIterator()
            guard let first = scalars.next(), scalars.next() == nil else { return nil }
            return first
        }
    }
}
