import Foundation
import RetryCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The journal file on disk: the single-writer lock, positional appends, fsync and the atomic
/// swap that compaction uses. Thread-safe; every operation is a short critical section.
public final class JournalFile: Sendable {
    /// The journal's path.
    public let path: String
    private struct State {
        var fd: Int32
        /// Everything before this offset is whole, checksummed lines. Changed only through
        /// ``setSize(_:in:)``, which publishes it.
        var size: Int64
        /// The file's length on disk: `size` plus a zero-filled tail written ahead of the records.
        var allocated: Int64
    }

    private let state: Mutex<State>
    /// `state.size`, published after each change, so that a reader of ``size`` does not wait for
    /// the lock, which an append holds through its write and fdatasync.
    private let publishedSize: Atomic<Int64>
    private let lockFD: Int32
    private let faults: JournalFaults?

    /// Opens (creating) the journal and takes its lock; a second agent gets a `locked` error that
    /// names the holder's pid.
    ///
    /// - Parameter faults: fails chosen writes and fsyncs on purpose (tests of a full disk);
    ///   production passes `nil`.
    public init(path: String, faults: JournalFaults? = nil) throws(JournalError) {
        self.path = path
        self.faults = faults
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .io(
                    "cannot create the journal directory \(directory): \(error.localizedDescription)",
                    errno: Glibc.errno)
            }
        }
        let lockPath = path + ".lock"
        // O_NOFOLLOW: a link planted at the lock's path must not make the agent open (and then
        // truncate and write its pid into) some other file.
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard lockFD >= 0 else {
            let code = errno
            if code == ELOOP {
                throw .io(
                    "\(lockPath) is a symbolic link; the lock file must be a plain file (remove the link)", errno: code)
            }
            throw .io("cannot open \(lockPath): \(String(cString: strerror(code)))", errno: code)
        }
        if flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.readPID(lockFD)
            close(lockFD)
            throw .locked(
                "journal \(path) is in use by another agent\(holder.map { " (pid \($0))" } ?? ""); two agents must not share a journal"
            )
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(lockFD, 0)
        _ = pid.withCString { pwrite(lockFD, $0, strlen($0), 0) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            close(lockFD)
            throw .io("cannot open the journal \(path): \(String(cString: strerror(code)))", errno: code)
        }
        var info = stat()
        fstat(fd, &info)
        let allocated = Int64(info.st_size)
        self.lockFD = lockFD
        let size = Self.endOfRecords(fd, length: allocated)
        self.state = Mutex(State(fd: fd, size: size, allocated: allocated))
        self.publishedSize = Atomic(size)
    }

    deinit {
        _ = state.withLock { close($0.fd) }
        close(lockFD)
    }

    /// Bytes written ahead of the records at a time: the journal grows by a zero-filled segment,
    /// made durable once, and records are then written over the zeros. Writing into space that is
    /// already allocated and on disk changes no file metadata, so the fdatasync after each batch
    /// only has the batch's data to write (the file's size, and so its inode, stay as they are):
    /// the same idea as etcd's preallocated WAL segments.
    public static let segmentBytes: Int64 = 8 << 20

    /// The end of the records in the first `length` bytes of `fd`: the file's length less a
    /// trailing run of zero bytes (space written ahead; a record never holds a zero byte).
    public static func endOfRecords(_ fd: Int32, length: Int64) -> Int64 {
        var end = length
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while end > 0 {
            let count = Int(min(Int64(buffer.count), end))
            let start = end - Int64(count)
            let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, off_t(start)) }
            guard read == count else { return end }
            if let last = buffer[0..<count].lastIndex(where: { $0 != 0 }) { return start + Int64(last) + 1 }
            end = start
        }
        return 0
    }

    private static func readPID(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, 32, 0)
        guard count > 0 else { return nil }
        return Int(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The size of the records in bytes (whole lines only; the zeros written ahead are not
    /// counted), as the last append, truncation or compaction left it: read without waiting for
    /// one in progress (the store looks at it after every append).
    public var size: Int64 { publishedSize.load(ordering: .acquiring) }

    /// Sets the records' size under the lock, and publishes it for ``size``.
    private func setSize(_ size: Int64, in state: inout State) {
        state.size = size
        publishedSize.store(size, ordering: .releasing)
    }

    /// Reads the whole file, into one array sized from `fstat` (no zero fill, no second copy).
    public func readAll() throws(JournalError) -> [UInt8] {
        let result: Result<[UInt8], JournalError> = state.withLock { state in
            var info = stat()
            guard fstat(state.fd, &info) == 0 else { return .failure(.io("cannot stat \(path)", errno: errno)) }
            let total = Int(info.st_size)
            var failure: JournalError?
            let bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                var offset = 0
                while offset < total {
                    let count = pread(state.fd, buffer.baseAddress! + offset, total - offset, off_t(offset))
                    if count < 0 {
                        if errno == EINTR { continue }
                        failure = .io("cannot read \(path): \(String(cString: strerror(errno)))", errno: errno)
                        break
                    }
                    if count == 0 { break }
                    offset += count
                }
                initialized = offset
            }
            if let failure { return .failure(failure) }
            return .success(bytes)
        }
        return try result.get()
    }

    /// Reads up to `count` bytes from `offset` (fewer at the end of the file).
    public func read(from offset: Int64, count: Int) throws(JournalError) -> [UInt8] {
        let result: Result<[UInt8], JournalError> = state.withLock { state in
            var failure: JournalError?
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                var done = 0
                while done < count {
                    let read = pread(state.fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                    if read < 0 {
                        if errno == EINTR { continue }
                        failure = .io("cannot read \(path): \(String(cString: strerror(errno)))", errno: errno)
                        break
                    }
                    if read == 0 { break }
                    done += read
                }
                initialized = done
            }
            if let failure { return .failure(failure) }
            return .success(bytes)
        }
        return try result.get()
    }

    /// Cuts the file back to `length` bytes (a torn tail).
    public func truncate(to length: Int64) throws(JournalError) {
        let code: Int32? = state.withLock { state in
            guard ftruncate(state.fd, off_t(length)) == 0, fsync(state.fd) == 0 else { return errno }
            setSize(length, in: &state)
            state.allocated = length
            return nil
        }
        if let code { throw .io("cannot truncate \(path): \(String(cString: strerror(code)))", errno: code) }
    }

    /// Appends `bytes` (whole lines) after the last record and, when `sync`, makes them durable.
    ///
    /// Writes are positional from the last known good size: after a partial write or a failed
    /// fsync the next call rewrites the same region, so a failure never leaves half a line that a
    /// later success would build on. Records go into space allocated ahead (``segmentBytes`` of
    /// zeros, made durable when written), so the fdatasync writes no metadata.
    public func append(_ bytes: [UInt8], sync: Bool) throws(JournalError) {
        let failure: (String, Int32)? = state.withLock { state in
            if state.size + Int64(bytes.count) > state.allocated {
                if let failure = Self.allocate(&state, atLeast: state.size + Int64(bytes.count), faults: faults) {
                    return failure
                }
            }
            var written = 0
            while written < bytes.count {
                if let code = faults?.inject(.write) {
                    Self.cutBack(&state)
                    return ("write", code)
                }
                let count = bytes.withUnsafeBytes {
                    pwrite(
                        state.fd, $0.baseAddress! + written, bytes.count - written, off_t(state.size) + off_t(written))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    Self.cutBack(&state)
                    return ("write", code)
                }
                written += count
            }
            // A failed fsync leaves the bytes in the file but not known to be durable: cut them
            // off, so a crash before the retry cannot replay a record that was answered 503.
            if sync, let code = faults?.inject(.fsync) {
                Self.cutBack(&state)
                return ("fsync", code)
            }
            if sync, fdatasync(state.fd) != 0 {
                let code = errno
                Self.cutBack(&state)
                return ("fsync", code)
            }
            setSize(state.size + Int64(bytes.count), in: &state)
            return nil
        }
        if let (operation, code) = failure {
            throw .io("journal \(operation) failed on \(path): \(String(cString: strerror(code)))", errno: code)
        }
    }

    /// Removes whatever a failed append may have left after the last record (the space written
    /// ahead goes with it, and is written again by the next append).
    private static func cutBack(_ state: inout State) {
        _ = ftruncate(state.fd, off_t(state.size))
        state.allocated = state.size
    }

    /// Extends the file with zeros to a whole number of segments past `needed`, and makes the
    /// new space durable (this fdatasync does write metadata: once a segment).
    private static func allocate(
        _ state: inout State, atLeast needed: Int64, faults: JournalFaults?
    ) -> (
        String, Int32
    )? {
        let target = (needed / segmentBytes + 1) * segmentBytes
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var offset = state.allocated
        while offset < target {
            if let code = faults?.inject(.write) {
                cutBack(&state)
                return ("write", code)
            }
            let count = zeros.withUnsafeBytes {
                pwrite(state.fd, $0.baseAddress!, Int(min(Int64(zeros.count), target - offset)), off_t(offset))
            }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                cutBack(&state)
                return ("write", code)
            }
            offset += Int64(count)
        }
        if let code = faults?.inject(.fsync) {
            cutBack(&state)
            return ("fsync", code)
        }
        guard fdatasync(state.fd) == 0 else {
            let code = errno
            cutBack(&state)
            return ("fsync", code)
        }
        state.allocated = target
        return nil
    }

    /// Makes everything written so far durable.
    public func sync() throws(JournalError) {
        let code: Int32? = state.withLock { state in
            if let code = faults?.inject(.fsync) { return code }
            return fdatasync(state.fd) == 0 ? nil : errno
        }
        if let code { throw .io("journal fsync failed on \(path): \(String(cString: strerror(code)))", errno: code) }
    }

    /// A compaction's snapshot written to its temporary file and made durable, waiting to take the
    /// journal's place (``commitSnapshot(_:tail:)``) or to be dropped (``discardSnapshot(_:)``).
    public struct PreparedSnapshot: Sendable {
        fileprivate let fd: Int32
        fileprivate let path: String
        /// The snapshot's length in bytes.
        public let size: Int64
    }

    /// The temporary file compactions write to.
    var compactionPath: String { path + ".compact.tmp" }

    /// Writes `bytes` to a new temporary file beside the journal and fsyncs it, without touching
    /// the journal: appends go on meanwhile. The file is never opened through a link (`O_NOFOLLOW`,
    /// `O_EXCL` after removing any leftover), so a planted link cannot aim the write elsewhere.
    public func prepareSnapshot(_ bytes: [UInt8]) throws(JournalError) -> PreparedSnapshot {
        let temporary = compactionPath
        unlink(temporary)
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw .io("journal compaction failed (open \(temporary)): \(String(cString: strerror(code)))", errno: code)
        }
        func fail(_ operation: String, _ code: Int32) -> JournalError {
            close(fd)
            unlink(temporary)
            return .io(
                "journal compaction failed (\(operation) \(temporary)): \(String(cString: strerror(code)))", errno: code
            )
        }
        if let code = faults?.inject(.replace) { throw fail("write", code) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw fail("write", errno)
            }
            written += count
        }
        guard fsync(fd) == 0 else { throw fail("fsync", errno) }
        return PreparedSnapshot(fd: fd, path: temporary, size: Int64(bytes.count))
    }

    /// Puts a prepared snapshot in the journal's place: appends `tail` (the records written since
    /// the snapshot was taken), fsyncs, renames it over the journal and fsyncs the directory. On
    /// failure the journal is left as it was and the snapshot dropped.
    public func commitSnapshot(_ snapshot: PreparedSnapshot, tail: [UInt8]) throws(JournalError) {
        let failure: (String, Int32)? = state.withLock { state in
            var written = 0
            while written < tail.count {
                let count = tail.withUnsafeBytes {
                    pwrite(
                        snapshot.fd, $0.baseAddress! + written, tail.count - written,
                        off_t(snapshot.size) + off_t(written))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    return ("write \(snapshot.path)", errno)
                }
                written += count
            }
            guard fsync(snapshot.fd) == 0 else { return ("fsync \(snapshot.path)", errno) }
            guard rename(snapshot.path, path) == 0 else { return ("rename \(snapshot.path)", errno) }
            Self.syncDirectory(of: path)
            close(state.fd)
            state.fd = snapshot.fd
            setSize(snapshot.size + Int64(tail.count), in: &state)
            state.allocated = state.size
            return nil
        }
        if let (operation, code) = failure {
            discardSnapshot(snapshot)
            throw .io("journal compaction failed (\(operation)): \(String(cString: strerror(code)))", errno: code)
        }
    }

    /// Drops a prepared snapshot that will not be used.
    public func discardSnapshot(_ snapshot: PreparedSnapshot) {
        close(snapshot.fd)
        unlink(snapshot.path)
    }

    /// Replaces the journal's content with `bytes` at once (``prepareSnapshot(_:)`` then
    /// ``commitSnapshot(_:tail:)``): the offline `journal compact`.
    public func replace(with bytes: [UInt8]) throws(JournalError) {
        try commitSnapshot(try prepareSnapshot(bytes), tail: [])
    }

    private static func syncDirectory(of path: String) {
        var directory = (path as NSString).deletingLastPathComponent
        if directory.isEmpty { directory = "." }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// Fault injection for the journal's writes, so that tests can make the disk "full" (or fail an
/// fsync) and free it again without a real full file system.
///
/// ``JournalFile`` asks `inject` before each `pwrite` and each `fdatasync` of
/// ``JournalFile/append(_:sync:)`` and ``JournalFile/sync()``; an `errno` returned (e.g. `ENOSPC`)
/// fails that call exactly as if the kernel had returned it, and `nil` lets the real call run.
/// Compaction (``JournalFile/replace(with:)``) is not covered. Production code passes no faults.
public struct JournalFaults: Sendable {
    /// The system call about to be made.
    public enum Operation: String, Sendable, Hashable {
        /// A `pwrite` of appended lines.
        case write
        /// An `fdatasync` after appending, or of ``JournalFile/sync()``.
        case fsync
        /// The write of a compaction's snapshot into its temporary file.
        case replace
    }

    /// Returns the `errno` to fail `operation` with, or `nil` to let it run.
    public let inject: @Sendable (Operation) -> Int32?

    /// Faults decided by `inject`, called on the writer's thread inside the file's lock: keep it short.
    public init(_ inject: @escaping @Sendable (Operation) -> Int32?) {
        self.inject = inject
    }
}
