import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore

#if canImport(Glibc)
import Glibc
#endif

extension EndToEndTests {
    /// What the audit tried with the real binaries: a log reader that goes away, plain-http HDP,
    /// and a redirect aimed at `send`.
    @Suite("Hostile")
    struct HostileTests {
        /// The agent's standard error goes to a FIFO the test reads until both listeners are up,
        /// then closes (`serve 2>&1 | head -3`). The agent keeps logging into the closed pipe.
        /// Before, the first such write failed with EPIPE inside `FileHandle.write`, which traps:
        /// the agent died on its next log line.
        @Test("the agent survives its log reader going away")
        func survivesAClosedStandardError() async throws {
            try await EndToEndHarness.run { e2e in
                let fifo = e2e.directory + "/stderr.fifo"
                #expect(mkfifo(fifo, 0o600) == 0)
                let reader = open(fifo, O_RDONLY | O_NONBLOCK)
                #expect(reader >= 0)
                let child = try e2e.spawnAgent(AgentSettings(standardError: fifo))
                var text = ""
                var ports: [String: Int] = [:]
                try await eventually("both listeners in the log") {
                    var buffer = [UInt8](repeating: 0, count: 65_536)
                    let count = read(reader, &buffer, buffer.count)
                    if count > 0 { text += String(decoding: buffer[0..<count], as: UTF8.self) }
                    for line in text.split(separator: "\n") {
                        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                            let message = object["message"] as? String, message.hasSuffix("listener up"),
                            let address = object["address"] as? String, let colon = address.lastIndex(of: ":"),
                            let port = Int(address[address.index(after: colon)...])
                        else { continue }
                        ports[message] = port
                    }
                    return ports.count == 2
                }
                close(reader)  // the reader goes away; every later log line hits a closed pipe
                let agent = AgentProcess(
                    child: child, webhookURL: "http://127.0.0.1:\(ports["webhook listener up"]!)/webhooks/hdp",
                    adminURL: "http://127.0.0.1:\(ports["admin listener up"]!)")
                try await eventually("ready") {
                    (try? await e2e.request(.GET, agent.adminURL + "/readyz").status) == 200
                }
                for index in 0..<5 {
                    let task = randomTaskID()
                    let result = await e2e.deliver(e2e.notice(task: task), id: "msg_pipe_\(index)", to: agent)
                    #expect(result.status == 202, "delivery \(index) after the log reader left")
                }
                #expect(child.isRunning)
                #expect(try await e2e.request(.GET, agent.adminURL + "/healthz").status == 200)
                let exit = try await e2e.stop(agent)
                #expect(exit?.status == 0 && exit?.signalled == false)
            }
        }

        @Test("plain-http HDP on another host is warned about at start; on this machine it is not")
        func cleartextWarning() async throws {
            try await EndToEndHarness.run { e2e in
                let remote = try await e2e.startAgent(AgentSettings(hdpURL: "http://hdp.example.invalid:8080"))
                #expect(remote.child.log.contains("the API key travels in clear"))
                _ = try await e2e.stop(remote)
            }
            try await EndToEndHarness.run { e2e in
                let local = try await e2e.startAgent()
                #expect(!local.child.log.contains("travels in clear"))
                _ = try await e2e.stop(local)
            }
        }

        /// A redirect would carry the signature headers wherever `Location` points. Before,
        /// `send` followed it.
        @Test("send does not follow a redirect with its signature")
        func sendDoesNotFollowRedirects() async throws {
            let received = Mutex<[String]>([])
            let elsewhere = Router()
            elsewhere.post("/collect") { request, _ in
                received.withLock { $0.append(request.headers[values: .init("webhook-signature")!].joined()) }
                return Response(status: .ok)
            }
            let collector = Application(
                router: elsewhere, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await collector.test(.live) { collectorClient in
                let collectorPort = try #require(collectorClient.port)
                let redirecting = Router()
                redirecting.post("/webhooks/hdp") { _, _ in
                    Response(
                        status: .temporaryRedirect,
                        headers: [.location: "http://127.0.0.1:\(collectorPort)/collect"])
                }
                let redirector = Application(
                    router: redirecting, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
                try await redirector.test(.live) { redirectorClient in
                    let port = try #require(redirectorClient.port)
                    try await EndToEndHarness.run { e2e in
                        let result = try await e2e.tool(["send", "--url", "http://127.0.0.1:\(port)/webhooks/hdp"])
                        #expect(result.status == 1)
                        #expect(result.output.contains("HTTP 307"))
                        #expect(result.output.contains("not followed"))
                    }
                }
            }
            #expect(received.withLock { $0 }.isEmpty)
        }
    }
}
