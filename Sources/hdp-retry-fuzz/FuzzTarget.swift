/// One fuzzing harness: a function of arbitrary bytes that feeds them to a part of the product and
/// checks properties of what comes back, not only that nothing crashed.
///
/// The same harness runs under libFuzzer (the sanitized build of `.ci/fuzz`, where a violated
/// property traps so that libFuzzer keeps the input) and in `hdp-retry-fuzz replay` (the ordinary
/// build, where a violation is reported with the input's file and the run goes on).
struct FuzzTarget: Sendable {
    /// The name used on the command line, in `HDP_FUZZ_TARGET` and as the corpus folder's name.
    let name: String
    /// One line for `hdp-retry-fuzz list`.
    let summary: String
    /// The largest input worth generating (libFuzzer's `-max_len`); larger seeds are still read.
    let maximumLength: Int
    /// Runs one input; throws when a property does not hold.
    let run: @Sendable (UnsafeRawBufferPointer) throws(PropertyViolation) -> Void

    /// Every harness, in the order `.ci/fuzz` runs them.
    static let all: [FuzzTarget] = [
        WebhookJSONTarget.target,
        TaskIDTarget.target,
        SignatureTargets.standardWebhooks,
        SignatureTargets.hmacSHA256,
        SignatureTargets.urlToken,
        RulesYAMLTarget.target,
        RegexTargets.compile,
        RegexTargets.differential,
        JournalLineTarget.target,
    ]

    /// The harness called `name`, if there is one.
    static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}

/// A property of the product that an input showed to be false.
struct PropertyViolation: Error, CustomStringConvertible {
    /// What was expected and what happened instead.
    let message: String

    var description: String { message }
}

/// Throws a ``PropertyViolation`` with `message` unless `condition` holds.
///
/// The message is an autoclosure, so describing the failure costs nothing while the property holds
/// (the fuzzer calls this millions of times).
func require(
    _ condition: Bool, _ message: @autoclosure () -> String
) throws(PropertyViolation) {
    if !condition { throw PropertyViolation(message: message()) }
}

/// A short, printable rendering of a value for a violation message.
func shown(_ value: some Any) -> String {
    let text = String(reflecting: value)
    return text.count > 300 ? String(text.prefix(300)) + "…" : text
}
