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
        let size = Int(JournalFile.endOfRecords(fd, length: Int64(status.st_size)))
        var scanner = Scanner()
        var capacity = max(chunkSize, 1)
        var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { storage.deallocate() }
        // `storage[0..<filled]` holds the file's bytes from offset `base`.
        var base = 0
        var filled = 0
        while base + filled < size {
            if filled == capacity {
                capacity *= 2
                let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
                larger.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<filled]))
                storage.deallocate()
                storage = larger
            }
            let wanted = min(capacity - filled, size - base - filled)
            let count = pread(fd, storage.baseAddress.unsafelyUnwrapped + filled, wanted, off_t(base + filled))
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw .io("cannot read \(path): \(String(cString: strerror(code)))", errno: code)
            }
            // The file shrank under us (a repair, a truncation): what was read is all there is.
            if count == 0 { break }
            filled += count
            let consumed = scanner.feed(UnsafeRawBufferPointer(rebasing: storage[0..<filled]), at: base, apply: apply)
            if consumed > 0 {
                let remaining = filled - consumed
                if remaining > 0 {
                    memmove(
                        storage.baseAddress.unsafelyUnwrapped, storage.baseAddress.unsafelyUnwrapped + consumed,
                        remaining)
                }
                base += consumed
                filled = remaining
            }
        }
        return scanner.finish(tail: base..<(base + filled))
    }
}
