/// The task statuses HDP documents, in workflow order, and the few facts about them the simulator
/// needs. Kept as plain strings because that is what travels over the wire and what the agent's
/// rules match on.
public enum HDPWorkflow {
    /// The status a task is reset to when a retry is accepted.
    public static let received = "Received"
    /// The final success status.
    public static let completed = "TaskDecommitmentCompleted"
    /// The failure that gets a decommitment-only retry (every other failure re-runs everything).
    public static let decommitmentFailed = "TaskDecommitmentFailed"

    /// Every documented status, in workflow order.
    public static let statuses: [String] = [
        "Received",
        "DryRunStarted", "DryRunCompleted", "DryRunFailed",
        "ChainProofsFetchStarted", "ChainProofsFetchCompleted", "ChainProofsFetchFailed",
        "TraceGenStarted", "TraceGenCompleted", "TraceGenFailed",
        "AtlanticProvingStarted", "AtlanticProvingCompleted", "AtlanticProvingFailed",
        "TaskDecommitmentStarted", "TaskDecommitmentCompleted", "TaskDecommitmentFailed",
    ]

    /// Whether `status` is one HDP documents; the control API refuses anything else so that a typo
    /// in a scenario file fails loudly instead of producing a task no rule can match.
    public static func isKnown(_ status: String) -> Bool { statuses.contains(status) }

    /// Whether `status` is a failure (`…Failed`): the only states a retry is meant for.
    public static func isFailed(_ status: String) -> Bool { status.hasSuffix("Failed") }

    /// The `…Started` status of the stage that ends in `status` (`AtlanticProvingFailed` →
    /// `AtlanticProvingStarted`), so a re-run that fails again leaves a plausible trail.
    public static func stageStarted(for status: String) -> String {
        for suffix in ["Failed", "Completed"] where status.hasSuffix(suffix) {
            return String(status.dropLast(suffix.count)) + "Started"
        }
        return status
    }
}

/// Which kind of re-run an accepted retry queued: HDP re-runs only the decommitment step of a
/// `TaskDecommitmentFailed` task and the whole workflow of any other.
public enum RetryKind: String, Sendable, Hashable, Codable {
    /// Only the decommitment step runs again.
    case decommitment
    /// The whole workflow runs again, proving included (the expensive case).
    case full
}
