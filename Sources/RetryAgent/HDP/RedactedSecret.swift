/// A secret that prints as `<redacted>` however it is described, dumped or reflected, so that
/// neither a log line nor a debugger view of the client can show it.
struct RedactedSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself; read only where it is sent.
    let value: String
    /// Always `<redacted>`.
    var description: String { "<redacted>" }
    /// Always `<redacted>`.
    var debugDescription: String { "<redacted>" }
    /// No children, so `dump` and debuggers show nothing.
    var customMirror: Mirror { Mirror(self, children: [:]) }
}
