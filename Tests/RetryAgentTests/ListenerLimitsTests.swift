import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOPosix
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore

#if canImport(Glibc)
import Glibc
#endif

/// The listener's limits against slow and flooding clients (SPEC §9), live over loopback.
@Suite("Listener limits")
struct ListenerLimitsTests {
    static let head =
        "POST /webhooks/hdp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"

    /// Sends `bytes` one at a time, `gap` apart, until the server closes the connection or all are
    /// sent; returns how many were sent before the close (`nil`: never closed) and what it answered.
    static func trickle(port: Int, _ bytes: [UInt8], gap: Double) throws -> (sentBeforeClose: Int?, answer: String) {
        let fd = try ChunkedUpload.connectSocket(port: port)
        defer { close(fd) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        func serverClosed(waiting milliseconds: Int32) -> Bool {
            var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&readable, 1, milliseconds) > 0 else { return false }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                answer += buffer[0..<count]
                return false
            }
            return true
        }
        for (index, byte) in bytes.enumerated() {
            var one = byte
            if send(fd, &one, 1, Int32(MSG_NOSIGNAL)) != 1 { return (index, String(decoding: answer, as: UTF8.self)) }
            if serverClosed(waiting: Int32(gap * 1000)) { return (index + 1, String(decoding: answer, as: UTF8.self)) }
        }
        // Everything sent: give the server a moment to answer or close.
        for _ in 0..<20 where serverClosed(waiting: 100) {
            return (bytes.count, String(decoding: answer, as: UTF8.self))
        }
        return (nil, String(decoding: answer, as: UTF8.self))
    }

    static func limits(requestTimeout: Duration = .seconds(10), maxConnections: Int = 1024) -> ListenerLimits {
        var limits = ListenerLimits()
        limits.requestTimeout = requestTimeout
        limits.maxConnections = maxConnections
        return limits
    }

    /// A body trickled a byte at a time keeps restarting the idle timer; the whole-request
    /// deadline closes the connection anyway. Before, it was held for as long as the bytes came.
    @Test(
        "live: a request trickled a byte at a time is closed at the request deadline",
        arguments: [Self.head + String(repeating: "x", count: 200), String(repeating: "X-Slow: y\r\n", count: 40)])
    func trickledRequestIsCut(request: String) async throws {
        let bytes = Array(
            (request.hasPrefix("POST")
                ? request
                : Self.head.replacingOccurrences(
                    of: "\r\n\r\n", with: "\r\n" + request + "\r\n")).utf8)
        let gauge = ListenerGauge()
        try await withEngine { harness in
            let app = try liveWebhookApp(
                harness, limits: Self.limits(requestTimeout: .milliseconds(400)), gauge: gauge)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let result = try await NIOThreadPool.singleton.runIfActive {
                    try Self.trickle(port: port, bytes, gap: 0.05)
                }
                // 50 ms a byte: 400 ms allows about 8 of the hundreds of bytes before the close.
                let sent = try #require(result.sentBeforeClose, "the connection was never closed")
                #expect(sent < bytes.count / 4, "closed only after \(sent) of \(bytes.count) bytes")
                #expect(!result.answer.contains("202"))
            }
            #expect(gauge.closed(.requestTimeout) >= 1)
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }

    /// Hundreds of idle connections: under the cap, a genuine delivery is still answered; past
    /// it, the extra connections are closed at once and the open count never exceeds the cap.
    @Test("live: idle connections are capped and genuine deliveries still answered")
    func idleConnectionsAreCapped() async throws {
        let gauge = ListenerGauge()
        try await withEngine { harness in
            let app = try liveWebhookApp(harness, limits: Self.limits(maxConnections: 50), gauge: gauge)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                // 40 idle sockets: under the cap, a delivery goes through.
                var held = try (0..<40).map { _ in try ChunkedUpload.connectSocket(port: port) }
                #expect(await Self.until { gauge.open >= 40 })
                let body = noticeBody()
                let answer = try await client.execute(
                    uri: EngineHarness.path, method: .post,
                    headers: signedHeaders(body, id: "msg_genuine", now: harness.clock.now),
                    body: ByteBuffer(string: body))
                #expect(answer.status == .accepted)
                // 300 more: at most 50 stay open; the rest are closed as soon as they are accepted.
                held += try (0..<300).map { _ in try ChunkedUpload.connectSocket(port: port) }
                #expect(await Self.until { gauge.closed(.maxConnections) >= 290 })
                #expect(gauge.open <= 50)
                let closedByServer = held.filter { fd in
                    var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    var byte: UInt8 = 0
                    return poll(&readable, 1, 20) > 0 && recv(fd, &byte, 1, 0) == 0
                }.count
                #expect(closedByServer >= 290)
                for fd in held { close(fd) }
                // Freed: deliveries are answered again.
                #expect(await Self.until { gauge.open <= 1 })  // the test client's own connection
                let after = try await client.execute(
                    uri: EngineHarness.path, method: .post,
                    headers: signedHeaders(
                        noticeBody(task: "01JPJ03YJT1A93D6NF56G4GVER"), id: "msg_after", now: harness.clock.now),
                    body: ByteBuffer(string: noticeBody(task: "01JPJ03YJT1A93D6NF56G4GVER")))
                #expect(after.status == .accepted)
            }
        }
    }

    /// A header block over 16 KiB is refused before any body is read or any secret used.
    @Test("live: a header block over the limit is refused")
    func oversizedHeaders() async throws {
        try await withEngine { harness in
            let app = try liveWebhookApp(harness)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let request =
                    "POST /webhooks/hdp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
                    + String(repeating: "p", count: 17_000)
                    + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                let answer = try await NIOThreadPool.singleton.runIfActive { () -> String in
                    let fd = try ChunkedUpload.connectSocket(port: port)
                    defer { close(fd) }
                    _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    var answer: [UInt8] = []
                    while true {
                        let count = recv(fd, &buffer, buffer.count, 0)
                        if count <= 0 { break }
                        answer += buffer[0..<count]
                    }
                    return String(decoding: answer, as: UTF8.self)
                }
                // Refused by the HTTP decoder (400, connection closed): never reaches the route.
                #expect(answer.hasPrefix("HTTP/1.1 400") || answer.hasPrefix("HTTP/1.1 431"), "\(answer.prefix(300))")
                #expect(answer.lowercased().contains("connection: close"))
            }
            #expect(await harness.store.ledgerSnapshot.deliveries.isEmpty)
        }
    }

    /// Polls `condition` (bounded); the listener's work happens on its own threads.
    static func until(_ condition: @Sendable () -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}
