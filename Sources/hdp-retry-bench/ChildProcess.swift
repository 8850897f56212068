import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A program the benchmark started (the agent, the peer, `wrk`, `apt-get`), in a process group
/// of its own so that killing it also kills whatever it started (the peer's `/bin/true`s).
///
/// Every child is listed in ``live`` until it is reaped; ``killAll()`` runs on a normal exit,
/// on an error, and on SIGINT/SIGTERM (``installCleanup()``), so no child outlives the benchmark.
final class ChildProcess: Sendable {
    /// The child's process id, which is also its process group id.
    let pid: pid_t
    /// A short name for messages.
    let name: String
    /// Where its standard output and standard error go.
    let outputPath: String
    private let reaped = Mutex<Reaped?>(nil)

    /// How a child ended, with the CPU time it used.
    struct Reaped: Sendable {
        /// The exit code, or 128 + the signal that ended it.
        var status: Int32
        /// User + system CPU seconds of the child (not of its own children).
        var cpuSeconds: Double
    }

    /// Children not reaped yet, by process id.
    private static let live = Mutex<[pid_t: String]>([:])

    /// Starts `executable` with `arguments` in `directory`, with exactly `environment`, standard
    /// input from `/dev/null` and both outputs appended to `outputPath`.
    init(
        name: String, executable: String, arguments: [String], environment: [String: String],
        directory: String, outputPath: String
    ) throws {
        self.name = name
        self.outputPath = outputPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        guard Self.addChangeDirectory(&actions, directory) == 0 else {
            throw BenchmarkError("cannot start \(executable) in \(directory)")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A group of its own; default dispositions and an empty mask for the signals the
        // benchmark itself ignores or handles (an ignored signal would survive exec).
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        // Listed before it can be reaped, under the lock the cleanup takes.
        let status = Self.live.withLock { live in
            let status = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
            if status == 0 { live[child] = name }
            return status
        }
        guard status == 0 else {
            throw BenchmarkError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), looked up at run time as the
    /// Glibc module does not import it.
    private static func addChangeDirectory(
        _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ directory: String
    ) -> Int32 {
        typealias AddChangeDirectory =
            @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
        else { return ENOSYS }
        return unsafeBitCast(symbol, to: AddChangeDirectory.self)(actions, directory)
    }

    /// Runs a program to its end (or kills it after `timeout` seconds) and returns its exit status
    /// and output.
    static func run(
        name: String, executable: String, arguments: [String], environment: [String: String],
        directory: String, outputPath: String, timeout: Double
    ) throws -> (status: Int32, output: String, cpuSeconds: Double) {
        try? FileManager.default.removeItem(atPath: outputPath)
        let child = try ChildProcess(
            name: name, executable: executable, arguments: arguments, environment: environment,
            directory: directory, outputPath: outputPath)
        let reaped = child.wait(timeout: timeout) ?? child.kill()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (reaped.status, output, reaped.cpuSeconds)
    }

    /// Whether the child is still running.
    var isRunning: Bool { poll() == nil }

    /// Waits up to `timeout` seconds for the child to end; `nil` if it is still running.
    func wait(timeout: Double) -> Reaped? {
        let deadline = Monotonic.now + timeout
        while true {
            if let reaped = poll() { return reaped }
            if Monotonic.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Asks the child to stop (SIGTERM to it alone, as an operator would), then kills its whole
    /// group if it has not ended within `grace` seconds.
    @discardableResult
    func stop(grace: Double) -> Reaped {
        if let reaped = poll() { return reaped }
        Glibc.kill(pid, SIGTERM)
        return wait(timeout: grace) ?? kill()
    }

    /// Kills the child's process group at once and reaps the child.
    @discardableResult
    func kill() -> Reaped {
        if let reaped = poll() {
            Glibc.kill(-pid, SIGKILL)
            return reaped
        }
        Glibc.kill(-pid, SIGKILL)
        return wait(timeout: 10) ?? Reaped(status: 128 + SIGKILL, cpuSeconds: 0)
    }

    /// Reaps the child if it has ended.
    private func poll() -> Reaped? {
        reaped.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            var usage = rusage()
            let result = Self.live.withLock { live in
                let result = wait4(pid, &status, WNOHANG, &usage)
                if result == pid || (result < 0 && errno == ECHILD) { live[pid] = nil }
                return result
            }
            guard result == pid || result < 0 else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
            let code = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            let cpu =
                Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
                + Double(usage.ru_stime.tv_usec) / 1e6
            reaped = Reaped(status: result < 0 ? -1 : code, cpuSeconds: cpu)
            return reaped
        }
    }

    /// Kills every child still running, with its process group (SIGKILL: this is the path of an
    /// error or an interrupt, where nothing is waited for).
    static func killAll() {
        let pids = live.withLock { Array($0.keys) }
        for pid in pids {
            Glibc.kill(-pid, SIGKILL)
            Glibc.kill(pid, SIGKILL)
        }
    }

    /// Kills all children on SIGINT, SIGTERM and SIGHUP (then deletes ``removeOnInterrupt`` and
    /// exits 130, 143 or 129) and at process exit; ignores SIGPIPE, which a peer closing a socket would otherwise raise.
    static func installCleanup() {
        signal(SIGPIPE, SIG_IGN)
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                killAll()
                if let directory = removeOnInterrupt.withLock({ $0 }) {
                    try? FileManager.default.removeItem(atPath: directory)
                }
                FileHandle.standardError.write(Data("hdp-retry-bench: interrupted; children killed\n".utf8))
                exit(128 + number)
            }
            source.resume()
            signalSources.append(source)
        }
        atexit { ChildProcess.killAll() }
    }

    /// A working directory to delete when the benchmark is interrupted.
    static let removeOnInterrupt = Mutex<String?>(nil)

    /// Keeps the signal sources alive for the life of the process.
    ///
    /// `nonisolated(unsafe)`: written only by ``installCleanup()``, which the command calls once
    /// on the main thread before starting any thread, and never read.
    nonisolated(unsafe) private static var signalSources: [any DispatchSourceSignal] = []
}

/// The monotonic clock in seconds, for deadlines and latencies.
enum Monotonic {
    /// Seconds since an arbitrary start (CLOCK_MONOTONIC).
    static var now: Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Nanoseconds since an arbitrary start (CLOCK_MONOTONIC).
    static var nanoseconds: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Sleeps until `nanoseconds` on this clock (at once when it has passed).
    static func sleep(until nanoseconds: UInt64) {
        var time = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR {}
    }
}
