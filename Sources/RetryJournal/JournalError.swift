import RetryCore

/// A journal that cannot be opened, read or written.
///
/// `reason` is a stable word, safe as a log field or metric label.
public struct JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: String, Sendable, Hashable {
        case locked
        case corrupt
        case io
        case unsupported
        case closed
    }

    private let kind: Kind
    /// A sentence for the operator: what is wrong, where, and what to do.
    public let message: String
    /// The `errno` of a failed system call, when there was one.
    public let errno: Int32?

    /// `locked`, `corrupt`, `io`, `unsupported` or `closed`.
    public var reason: String { kind.rawValue }
    public var description: String { message }

    /// Another agent holds the journal's lock.
    public static func locked(_ message: String) -> JournalError {
        JournalError(kind: .locked, message: message, errno: nil)
    }
    /// A record in the middle of the journal is unreadable.
    public static func corrupt(_ message: String) -> JournalError {
        JournalError(kind: .corrupt, message: message, errno: nil)
    }
    /// A system call failed.
    public static func io(_ message: String, errno: Int32) -> JournalError {
        JournalError(kind: .io, message: message, errno: errno)
    }
    /// The journal was written by a newer build.
    public static func unsupported(_ message: String) -> JournalError {
        JournalError(kind: .unsupported, message: message, errno: nil)
    }

    /// The writer has stopped (the agent is shutting down): nothing more is written.
    public static let closed = JournalError(kind: .closed, message: "the journal is closed", errno: nil)

    /// Whether the writer has stopped.
    public var isClosed: Bool { kind == .closed }
    /// Whether `error` is the "another agent holds the lock" error.
    public var isLocked: Bool { kind == .locked }
    /// Whether `error` reports corruption in the middle of the journal.
    public var isCorrupt: Bool { kind == .corrupt }
}
