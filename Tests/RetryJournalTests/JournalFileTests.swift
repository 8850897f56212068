import Foundation
import RetryTesting
import Testing

@testable import RetryJournal

#if canImport(Glibc)
import Glibc
#endif

/// Files the journal opens next to itself are never opened through a link someone planted.
@Suite struct JournalFileTests {
    /// Before, the lock file was opened through the link and truncated, and the agent's pid
    /// written into whatever it pointed at.
    @Test func aSymbolicLinkAtTheLockIsRefusedAndItsTargetUntouched() throws {
        let folder = try TemporaryFolder()
        let victim = try folder.write("victim", "precious\n")
        let journal = folder.path + "/journal.jsonl"
        #expect(symlink(victim, journal + ".lock") == 0)
        #expect {
            _ = try JournalFile(path: journal)
        } throws: { error in
            "\(error)".contains("symbolic link")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    /// Before, the compaction's temporary file was opened with O_TRUNC through the link, emptying
    /// its target.
    @Test func aSymbolicLinkAtTheCompactionFileIsNotFollowed() throws {
        let folder = try TemporaryFolder()
        let victim = try folder.write("victim", "precious\n")
        let journal = folder.path + "/journal.jsonl"
        let file = try JournalFile(path: journal)
        #expect(symlink(victim, journal + ".compact.tmp") == 0)
        try file.replace(with: Array("snapshot\n".utf8))
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try String(contentsOfFile: journal, encoding: .utf8) == "snapshot\n")
        #expect(!FileManager.default.fileExists(atPath: journal + ".compact.tmp"))
    }
}
