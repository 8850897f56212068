import LinearRegex
import RetryCore

/// The shipped HDP rule set (`rules/hdp.yaml`), compiled into the binary so that the agent works
/// with no rules folder at all. `RuleShippedTests` fails if this copy and the file differ; after
/// editing `rules/hdp.yaml`, paste its text between the delimiters below, indented like the
/// closing delimiter (Swift strips that indentation, so the string is the file byte for byte).
extension RuleSet {
    /// The text of `rules/hdp.yaml`, byte for byte.
    public static let builtInYAML = #"""
        # Retry rules for the Herodotus Data Processor, shipped with hdp-retry-agent.
        #
        # The first rule whose `match` holds decides; `default` decides when none does.
        # Check an edit with `hdp-retry-agent rules check` and `hdp-retry-agent rules test`
        # before reloading (SIGHUP or POST /-/reload); a bad file never replaces good rules.
        #
        # Every retry re-runs work on a paid prover, except a decommitment retry, which only
        # re-runs decommitment. So: retry what is clearly transient, give up on what can
        # never succeed, and let a person look at everything else.
        version: 1
        defaults:
          max_attempts: 3
          backoff: {initial: 30s, factor: 2, max: 30m, jitter: full}
        rules:
          - name: decommitment-results-missing
            description: >-
              HDP answers 400 "Cannot retry decommitment" when the task's results are
              missing, so a retry can never succeed and would only be rejected; a person
              must look.
            match:
              status: TaskDecommitmentFailed
              error: {regex: "(?i)results? (are |is )?(missing|not found|unavailable)|no results|cannot retry decommitment"}
            action: give_up

          - name: decommitment
            description: >-
              Any other decommitment failure is retried. The retry re-runs decommitment
              only (no proving), so it is cheap, and these failures are usually a busy
              RPC node or a congested chain; allow more attempts, spaced further apart.
            match: {status: TaskDecommitmentFailed}
            action: retry
            max_attempts: 5
            backoff: {initial: 1m, max: 1h}

          - name: dry-run-invalid-input
            description: >-
              The task's own input is wrong: invalid input, a parse or validation error,
              an unsupported chain or datalake. Running it again fails the same way, so
              give up and let the task's owner fix the request.
            match:
              status: DryRunFailed
              error: {regex: "(?i)invalid|pars(e|ing) (error|fail)|failed to parse|deserializ|validation|unsupported (chain|datalake)|unknown chain|not supported"}
            action: give_up

          - name: rate-limited
            description: >-
              An RPC provider or the prover said "slow down" (429, rate limit, quota).
              The work is fine; wait longer between tries than for other transient errors.
            match:
              status: [DryRunFailed, ChainProofsFetchFailed, TraceGenFailed, AtlanticProvingFailed]
              error: {regex: "(?i)rate.?limit|too many requests|status( code)?:? 429|http 429|quota"}
            action: retry
            backoff: {initial: 2m, max: 1h}

          - name: prover-unavailable
            description: >-
              The Atlantic prover was unavailable, overloaded or in maintenance, so no
              proving was paid for. Prover outages last minutes to hours: retry more
              times with a long backoff.
            match:
              status: AtlanticProvingFailed
              error: {regex: "(?i)prover.*(unavailable|unreachable|overloaded|busy|maintenance|down)|(queue|capacity).*(full|exceeded)|no (available )?provers?"}
            action: retry
            max_attempts: 5
            backoff: {initial: 5m, max: 1h}

          - name: transient-network
            description: >-
              Network and RPC trouble, timeouts and HTTP 5xx answers are transient: the
              same work succeeds once the network or the node is back.
            match:
              status: [DryRunFailed, ChainProofsFetchFailed, TraceGenFailed, AtlanticProvingFailed]
              any:
                - error: {contains: timeout}
                - error: {contains: timed out}
                - error: {regex: "(?i)connection (reset|refused|closed|aborted)|broken pipe|unexpected eof|network|dns|rpc (error|node|request|endpoint)|temporar(y|ily)|try again|unavailable"}
                - error: {regex: "(?i)(http|status|code)[ :=a-z]*5[0-9][0-9]|bad gateway|gateway time-?out|internal server error"}
            action: retry

        default:
          description: >-
            Unknown failures are not retried blindly, since a retry may pay for proving
            that fails again; the task is journaled as given up so that a person looks.
          action: give_up

        """#

    /// The shipped HDP rule set, used when the default rules path does not exist.
    ///
    /// Should the embedded text ever fail to load (the tests make sure it does not), the agent gives
    /// up on every failure rather than crash or retry blindly.
    public static let builtIn: RuleSet = {
        do {
            return try RuleSetLoader.load(yaml: builtInYAML, file: builtInFileName).ruleSet
        } catch {
            let location = SourceLocation(file: builtInFileName, line: 1, column: 1)
            return RuleSet(
                rules: [],
                defaultRule: DefaultRule(
                    action: .giveUp, maxAttempts: RuleFileParser.builtInMaxAttempts, backoff: .standard,
                    location: location),
                files: [])
        }
    }()

    /// How diagnostics and explanations name the built-in copy.
    public static let builtInFileName = "<built-in>/hdp.yaml"
}
