/// What is safe to print on an operator's terminal of texts that senders wrote (errors,
/// statuses).
public enum TerminalText {
    /// Whether `scalar` would act on a terminal rather than show as a character: C0 and C1
    /// controls (escape sequences start with one), format characters (bidirectional overrides
    /// that reorder what follows, zero-width characters), line and paragraph separators, and
    /// code points with no character (private use, unassigned).
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: true
        default: false
        }
    }
}
