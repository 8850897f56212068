import Foundation
import RetryCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension JournalReader {
    /// Decodes the journal at `path` as it is now, beside a running agent: no lock is taken and
    /// nothing is written (not even a torn tail cut off). The file is read in chunks of
    /// ``chunkSize`` up to the end of its records when opened (not into the zero-filled space
    /// written ahead of them); a line the agent is still writing then is left
    /// out as the scan's torn tail, and what the agent appends later is not read. A compaction
    /// that replaces the file meanwhile does not disturb the scan, which goes on reading the
    /// file it opened.
    ///
    /// For offline readers that must not stop an agent (`rules backtest`); replay at start uses
    /// ``replay(_:apply:)``, which takes the lock and cuts a torn tail off.
    public static func scanReadOnly(
        path: String, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> Scan {
        try scanReadOnly(path: path, chunkSize: chunkSize, apply: apply)
    }

    /// ``scanReadOnly(path:apply:)`` reading `chunkSize` bytes at a time.
    static func scanReadOnly(
        path: String, chunkSize: Int, apply: (consuming JournalRecord) -> Void
    ) throws(JournalError) -> Scan {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer (it is refused
        // below); reads of a regular file are not affected by it.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw .io("cannot read \(path): \(String(cString: strerror(code)))", errno: code)
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            throw .io("cannot read \(path): \(String(cString: strerror(code)))", errno: code)
        }
        // A FIFO or a device would block or never end: only a file is a journal.
        guard status.st_mode & S_IFMT == S_IFREG else { throw .io("\(path) is not a regular file", errno: EINVAL) }
        // Up to the end of the records as the file is now, never into the zero-filled space the
        // agent writes ahead (its records land there while the scan reads, and a half-seen one
        // would read as corruption).
        let end = Int(JournalFile.endOfRecords(fd, length: Int64(status.st_size)))
        return try scan(fd: fd, path: path, end: end, chunkSize: chunkSize, apply: apply)
    }
}
