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
        /// Everything before this offset is whole, checksummed lines.
        var size: Int64
    }

    private let state: Mutex<State>
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
        self.lockFD = lockFD
        self.state = Mutex(State(fd: fd, size: Int64(info.st_size)))
    }

    deinit {
        _ = state.withLock { close($0.fd) }
        close(lockFD)
    }

    private static func readPID(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, 32, 0)
        guard count > 0 else { return nil }
        return Int(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The current size in bytes (whole lines only).
    public var size: Int64 { state.withLock { $0.size } }

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
            state.size = length
            return nil
        }
        if let code { throw .io("cannot truncate \(path): \(String(cString: strerror(code)))", errno: code) }
    }

    /// Appends `bytes` (whole lines) at the end and, when `sync`, makes them durable.
    ///
    /// Writes are positional from the last known good size: after a partial write or a failed
    /// fsync the next call rewrites the same region, so a failure never leaves half a line that a
    /// later success would build on.
    public func append(_ bytes: [UInt8], sync: Bool) throws(JournalError) {
        let failure: (String, Int32)? = state.withLock { state in
            var written = 0
            while written < bytes.count {
                if let code = faults?.inject(.write) {
                    _ = ftruncate(state.fd, off_t(state.size))
                    return ("write", code)
                }
                let count = bytes.withUnsafeBytes {
                    pwrite(
                        state.fd, $0.baseAddress! + written, bytes.count - written, off_t(state.size) + off_t(written))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    _ = ftruncate(state.fd, off_t(state.size))
                    return ("write", code)
                }
                written += count
            }
            // A failed fsync leaves the bytes in the file but not known to be durable: cut them
            // off, so a crash before the retry cannot replay a record that was answered 503.
            if sync, let code = faults?.inject(.fsync) {
                _ = ftruncate(state.fd, off_t(state.size))
                return ("fsync", code)
            }
            if sync, fdatasync(state.fd) != 0 {
                let code = errno
                _ = ftruncate(state.fd, off_t(state.size))
                return ("fsync", code)
            }
            state.size += Int64(bytes.count)
            return nil
        }
        if let (operation, code) = failure {
            throw .io("journal \(operation) failed on \(path): \(String(cString: strerror(code)))", errno: code)
        }
    }

    /// Makes everything written so far durable.
    public func sync() throws(JournalError) {
        let code: Int32? = state.withLock { state in
            if let code = faults?.inject(.fsync) { return code }
            return fdatasync(state.fd) == 0 ? nil : errno
        }
        if let code { throw .io("journal fsync failed on \(path): \(String(cString: strerror(code)))", errno: code) }
    }

    /// Replaces the journal's content with `bytes` atomically: temp file, fsync, rename, fsync of
    /// the directory. The lock stays held throughout (it lives on a separate file).
    public func replace(with bytes: [UInt8]) throws(JournalError) {
        let temporary = path + ".compact.tmp"
        let failure: (String, Int32)? = state.withLock { state in
            // A new file every time (a leftover from a failed compaction is removed first), never
            // opened through a link: O_TRUNC through a planted link would empty its target.
            unlink(temporary)
            let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return ("open \(temporary)", errno) }
            var written = 0
            if let code = faults?.inject(.replace) {
                close(fd)
                unlink(temporary)
                return ("write \(temporary)", code)
            }
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
                if count < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    close(fd)
                    unlink(temporary)
                    return ("write \(temporary)", code)
                }
                written += count
            }
            guard fsync(fd) == 0 else {
                let code = errno
                close(fd)
                unlink(temporary)
                return ("fsync \(temporary)", code)
            }
            guard rename(temporary, path) == 0 else {
                let code = errno
                close(fd)
                unlink(temporary)
                return ("rename \(temporary)", code)
            }
            Self.syncDirectory(of: path)
            close(state.fd)
            state.fd = fd
            state.size = Int64(bytes.count)
            return nil
        }
        if let (operation, code) = failure {
            throw .io("journal compaction failed (\(operation)): \(String(cString: strerror(code)))", errno: code)
        }
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
