#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An authenticated, parsed task notification: what the listener hands to the pipeline.
public struct FailureNotice: Sendable, Hashable {
    /// The task the notice is about, validated and canonical.
    public var taskID: TaskID
    /// HDP's status word, e.g. `AtlanticProvingFailed`.
    public var status: String
    /// The error text, when the sender gave one.
    public var error: String?
    /// When the sender says the failure happened (`timestamp`), when it gave one.
    public var timestamp: Date?
    /// The whole JSON body, for rules that match dotted paths such as `data.chain_id`.
    public var payload: JSONValue

    public init(taskID: TaskID, status: String, error: String?, timestamp: Date?, payload: JSONValue) {
        self.taskID = taskID
        self.status = status
        self.error = error
        self.timestamp = timestamp
        self.payload = payload
    }

    /// The input the rules classify.
    public var ruleEvent: RuleEvent {
        RuleEvent(taskID: taskID.rawValue, status: status, error: error, payload: payload)
    }
}
