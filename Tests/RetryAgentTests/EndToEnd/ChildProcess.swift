import AsyncHTTPClient
import Foundation
import HDPSimulator
import NIOCore
import NIOHTTP1
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The binaries under test. CI builds them with `swift build --build-tests` before `swift test`.
enum EndToEndBinaries {
    /// `hdp-retry-agent` and `hdp-sim`, from `$HDP_E2E_BIN_DIR`, the test bundle's own build folder
    /// or `<package>/.build/debug`, whichever has both.
    static func locate() throws -> (agent: URL, simulator: URL) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        var folders: [URL] = []
        if let folder = ProcessInfo.processInfo.environment["HDP_E2E_BIN_DIR"] {
            folders.append(URL(fileURLWithPath: folder))
        }
        if let runner = CommandLine.arguments.first {
            folders.append(URL(fileURLWithPath: runner).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        folders.append(root.appendingPathComponent(".build/debug"))
        for folder in folders {
            let agent = folder.appendingPathComponent("hdp-retry-agent")
            let simulator = folder.appendingPathComponent("hdp-sim")
            if FileManager.default.isExecutableFile(atPath: agent.path),
                FileManager.default.isExecutableFile(atPath: simulator.path)
            {
                return (agent, simulator)
            }
        }
        throw EndToEndError(
            "hdp-retry-agent and hdp-sim were not found in \(folders.map(\.path)); run `swift build --build-tests` first"
        )
    }
}

/// One child process, its output in a log file (a pipe nobody drains would block it).
final class ChildProcess: Sendable {
    let process: Process
    /// Where its standard output and standard error go.
    let logPath: String

    /// Starts `executable` in `directory` with exactly `environment`.
    init(
        executable: URL, arguments: [String], environment: [String: String], directory: String, logPath: String
    )
        throws
    {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try log.close()
        self.process = process
        self.logPath = logPath
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    /// Everything it has written so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` while the process runs (never to a reaped pid that may have been reused).
    func send(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits for the exit: `(status, signalled)`, or `nil` when it still runs after `timeout`.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> (status: Int32, signalled: Bool)? {
        do {
            try await eventually("exit of pid \(pid)", timeout: timeout, every: .milliseconds(20)) {
                !process.isRunning
            }
        } catch is EndToEndError {
            return nil
        }
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    /// SIGKILL and reap; used by every teardown, so a failed test leaves nothing running.
    func killAndReap() async {
        send(SIGKILL)
        _ = try? await waitForExit(timeout: .seconds(10))
    }
}

/// Every child a scenario started, so that the teardown can kill them all whatever happened.
final class ChildRegistry: Sendable {
    private let children = Mutex<[ChildProcess]>([])

    /// Everything registered so far.
    var all: [ChildProcess] { children.withLock { $0 } }

    /// Starts a child and registers it in one step, so none can escape the teardown.
    func start(
        _ executable: URL, _ arguments: [String], environment: [String: String], directory: String, log: String
    ) throws -> ChildProcess {
        try children.withLock { children in
            let child = try ChildProcess(
                executable: executable, arguments: arguments, environment: environment, directory: directory,
                logPath: directory + "/\(log)-\(children.count).log")
            children.append(child)
            return child
        }
    }
}
