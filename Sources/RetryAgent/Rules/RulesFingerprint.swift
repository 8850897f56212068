import Foundation
import LinearRegex
import RetryCore
import RetryRules

/// What the file watcher compares between polls: for each rule file its path, size, modification
/// time and inode number, in load order (so adding, removing or renaming a file is a change too).
///
/// Reading attributes is cheap (no file contents), so polling every second costs nothing
/// noticeable. A path that does not exist or cannot be listed has its own fingerprint, so its
/// reappearance is a change.
struct RulesFingerprint: Hashable, Sendable {
    /// What is compared of one file.
    struct FileState: Hashable, Sendable {
        var path: String
        var size: UInt64
        var modified: Double
        var inode: UInt64
    }

    /// The rule files' states, in load order.
    var files: [FileState]
    /// The load error's reason when the files cannot be listed (`not_found`, …).
    var listingProblem: String?

    /// Takes the fingerprint of the rules at `path` now.
    init(path: String) {
        do throws(RulesLoadError) {
            let paths = try RuleSetLoader.ruleFiles(at: path)
            files = paths.map(Self.state(of:))
            listingProblem = nil
        } catch {
            files = []
            listingProblem = error.reason
        }
    }

    private static func state(of path: String) -> FileState {
        let attributes = (try? FileManager.default.attributesOfItem(atPath: path)) ?? [:]
        return FileState(
            path: path,
            size: (attributes[.size] as? NSNumber)?.uint64Value ?? 0,
            modified: (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0,
            inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0)
    }
}
