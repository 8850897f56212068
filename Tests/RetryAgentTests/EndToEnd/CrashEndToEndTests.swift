import Foundation
import HDPSimulator
import RetryTesting
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

extension EndToEndTests {
    /// Crash safety and shutdown through the real binaries: `kill -9` mid-attempt, a crash loop
    /// under load, and a clean SIGTERM.
    @Suite("Crash")
    struct CrashTests {
        @Test("kill -9 between attempt_started and attempt_finished: one accepted retry, task ends")
        func killBetweenStartAndFinish() async throws {
            try await EndToEndHarness.run { e2e in
                let task = randomTaskID()
                try await e2e.addSimulatorTasks([TaskSpec(taskID: task, error: "prover timeout")])
                // Slow HDP: the retry call takes 3 s, a wide window between the two records (wide
                // enough for a busy machine's polling of the journal to land inside it).
                try await e2e.setFaults(SimulatorFaults(latencyMilliseconds: 3000))
                let agent = try await e2e.startAgent()
                let answer = await e2e.deliver(e2e.notice(task: task), id: "msg_\(task)", to: agent)
                #expect(answer.body?.decision == "retry_scheduled")

                try await eventually("attempt_started for \(task) in the journal") {
                    try e2e.journal().contains {
                        $0.task?.rawValue == task && $0.body.typeName == "attempt_started"
                    }
                }
                agent.child.send(SIGKILL)
                let exit = try await agent.child.waitForExit()
                #expect(exit?.signalled == true && exit?.status == SIGKILL)
                let before = try e2e.journal().filter { $0.task?.rawValue == task }.map(\.body.typeName)
                try #require(before == ["delivery", "attempt_started"], "the kill came too late to test anything")

                // The simulator keeps its latency: the restarted agent's status check is answered
                // after the killed call was (or was not) served, never before.
                let restarted = try await e2e.startAgent()
                try await eventually("\(task) ended") {
                    let state = try await e2e.taskView(task, on: restarted)?.state
                    return state == "retried" || state == "superseded"
                }
                try await e2e.waitSettled(restarted)
                // One call in all: the killed agent's (the restart found the task no longer failed)
                // or, had the kill beaten the request out of the door, the restarted agent's.
                let calls = try await e2e.simulatorCalls()
                #expect(calls.retry.callsByTask[task] == 1)
                #expect(calls.retry.byTask[task] == 1)
                #expect(calls.retry.duplicate == 0)
                #expect(try await e2e.taskView(task, on: restarted)?.attempts == 1)
            }
        }

        @Test("SIGTERM exits 0, finishes the call in flight and acknowledges no new delivery")
        func sigtermShutsDownCleanly() async throws {
            try await EndToEndHarness.run { e2e in
                let task = randomTaskID()
                try await e2e.addSimulatorTasks([TaskSpec(taskID: task, error: "prover timeout")])
                try await e2e.setFaults(SimulatorFaults(latencyMilliseconds: 1000))
                let agent = try await e2e.startAgent(AgentSettings(logLevel: "debug"))
                let answer = await e2e.deliver(e2e.notice(task: task), id: "msg_\(task)", to: agent)
                #expect(answer.body?.decision == "retry_scheduled")
                try await eventually("the status check of \(task) in flight") {
                    try await e2e.simulatorCalls().status.byTask[task] != nil
                }
                // A delivery whose body is still arriving when the shutdown begins.
                let slowTask = randomTaskID()
                let slow = try SlowDelivery(
                    body: e2e.notice(task: slowTask), id: "slow_\(slowTask)", signer: e2e.signer, url: agent.webhookURL)
                try await eventually("the agent to have read the slow delivery's head") { try slow.headWasRead() }

                agent.child.send(SIGTERM)
                // From here on the engine refuses deliveries (the service that tells it has finished).
                try await eventually("the agent to stop accepting") {
                    agent.child.log.split(separator: "\n").contains {
                        $0.contains(#""message":"Service finished""#) && $0.contains("StopAccepting")
                    }
                }
                let slowAnswer = try slow.finish()
                #expect(slowAnswer.hasPrefix("HTTP/1.1 503"))
                #expect(slowAnswer.lowercased().contains("\r\nretry-after: "))
                var late: [(task: String, status: Int)] = []
                while agent.child.isRunning, late.count < 500 {
                    let other = randomTaskID()
                    late.append(
                        (other, await e2e.deliver(e2e.notice(task: other), id: "late_\(other)", to: agent).status))
                    try await Task.sleep(for: .milliseconds(20))
                }
                let exit = try await agent.child.waitForExit()
                #expect(exit?.status == 0 && exit?.signalled == false)
                #expect(late.allSatisfy { !(200..<300).contains($0.status) })

                let refused = Set(late.map(\.task) + [slowTask])
                #expect(try e2e.journal().allSatisfy { $0.task.map { !refused.contains($0.rawValue) } ?? true })
                #expect(try await e2e.simulatorCalls().retry.byTask[task] == 1)
                let inspect = try await e2e.tool(["journal", "inspect", "--journal", e2e.journalPath, "--task", task])
                let view = try JSONDecoder().decode(TaskView.self, from: Data(inspect.output.utf8))
                #expect(view.state == "retried")
                let verify = try await e2e.tool(["journal", "verify", "--journal", e2e.journalPath])
                #expect(verify.status == 0)
                #expect(!verify.output.contains("torn tail"))
            }
        }
    }
}

/// A signed delivery sent by hand over its own socket: the head and the first bytes of the body
/// at once, the rest on ``finish()``. The kernel's socket queues (`/proc/net/tcp`) tell when the
/// agent has read the head, so the test knows the request is in progress without guessing.
private struct SlowDelivery {
    let socket: Int32
    let localPort: Int
    let remotePort: Int
    let rest: [UInt8]

    init(body: [UInt8], id: String, signer: WebhookSigner, url: String) throws {
        guard let components = URLComponents(string: url), let port = components.port else {
            throw EndToEndError("bad URL \(url)")
        }
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw EndToEndError("connect to \(url) failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socket = fd
        remotePort = port
        localPort = Int(UInt16(bigEndian: local.sin_port))
        var head = "POST \(components.path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        for header in signer.sign(body: body, now: Date(), deliveryID: id).headers {
            head += "\(header.name): \(header.value)\r\n"
        }
        rest = Array(body.dropFirst(10))
        try send(Array((head + "\r\n").utf8) + body.prefix(10))
    }

    private func send(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw EndToEndError("send failed: errno \(errno)") }
    }

    /// Whether both ends' queues are empty: everything sent was delivered and the agent read it.
    func headWasRead() throws -> Bool {
        // Read to the end: `String(contentsOfFile:)` stops after the first page of a procfs file.
        guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return false }
        defer { try? file.close() }
        let table = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        var queues: [String: (tx: Int, rx: Int)] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            let localPort = Int(fields[1].split(separator: ":").last ?? "", radix: 16) ?? -1
            let remotePort = Int(fields[2].split(separator: ":").last ?? "", radix: 16) ?? -1
            let counts = fields[4].split(separator: ":").map { Int($0, radix: 16) ?? -1 }
            guard counts.count == 2 else { continue }
            queues["\(localPort)>\(remotePort)"] = (counts[0], counts[1])
        }
        guard let mine = queues["\(localPort)>\(remotePort)"], let agents = queues["\(remotePort)>\(localPort)"] else {
            return false
        }
        return mine.tx == 0 && agents.rx == 0
    }

    /// Sends the rest of the body and reads the answer until the agent closes the connection.
    func finish() throws -> String {
        defer { close(socket) }
        try send(rest)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
