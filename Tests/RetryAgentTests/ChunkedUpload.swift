import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately small HTTP/1.1 client over a blocking socket, for the one live test that needs
/// what no ready-made client exposes: how much of a chunked body had been sent when the server's
/// answer arrived. It sends `chunk`-sized pieces and, between two of them, waits at most 2 ms for
/// the answer; it stops sending as soon as the answer starts to arrive.
enum ChunkedUpload {
    /// What happened on the wire.
    struct Exchange: Sendable {
        /// Body bytes sent before the first byte of the answer was seen.
        var sentBeforeAnswer: Int
        /// The raw answer: status line, headers and body.
        var response: String
        /// With `keepSending`: body bytes the server still took after its answer, before the
        /// connection refused more (or `total` was reached).
        var sentAfterAnswer = 0
    }

    /// A blocking TCP socket connected to 127.0.0.1:`port` (10 s send and receive timeouts).
    static func connectSocket(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError(description: "socket: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
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
            throw HarnessError(description: "connect: \(errno)")
        }
        return fd
    }

    /// Sends `bytes` (a request the server cannot finish reading: headers cut short, or a body
    /// shorter than its Content-Length), then sends nothing more and waits up to `limit` seconds
    /// for the server to close the connection. Returns the seconds it took, `nil` if it did not.
    static func stall(port: Int, sending bytes: String, limit: Double) throws -> Double? {
        let fd = try connectSocket(port: port)
        defer { close(fd) }
        guard sendAll(fd, Array(bytes.utf8)) else { throw HarnessError(description: "send: \(errno)") }
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(start) < limit {
            var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&readable, 1, 100) > 0 else { continue }
            // An answer (a 4xx) may come first; the connection closing is what counts.
            if recv(fd, &buffer, buffer.count, 0) <= 0 { return Date().timeIntervalSince(start) }
        }
        return nil
    }

    /// Sends `bytes` (a request whose body is shorter than its Content-Length), closes the
    /// sending side, and returns whatever the server answers before it closes.
    static func halfClose(port: Int, sending bytes: String) throws -> String {
        let fd = try connectSocket(port: port)
        defer { close(fd) }
        guard sendAll(fd, Array(bytes.utf8)) else { throw HarnessError(description: "send: \(errno)") }
        shutdown(fd, Int32(SHUT_WR))
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            response += buffer[0..<count]
        }
        return String(decoding: response, as: UTF8.self)
    }

    /// Sends `head` (a request head with `Expect: 100-continue`), waits up to `wait` seconds for
    /// an interim answer, then sends `body` and returns everything the server answered, with how
    /// long the interim answer took (`nil` when none came).
    static func expectContinue(
        port: Int, head: String, body: String, wait: Double
    ) throws -> (
        interimAfter: Double?, response: String
    ) {
        let fd = try connectSocket(port: port)
        defer { close(fd) }
        guard sendAll(fd, Array(head.utf8)) else { throw HarnessError(description: "send: \(errno)") }
        let start = Date()
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var interimAfter: Double?
        var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&readable, 1, Int32(wait * 1000)) > 0 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                response += buffer[0..<count]
                interimAfter = Date().timeIntervalSince(start)
            }
        }
        if !String(decoding: response, as: UTF8.self).hasPrefix("HTTP/1.1 4") {
            guard sendAll(fd, Array(body.utf8)) else { throw HarnessError(description: "send body: \(errno)") }
        }
        // The final answer follows any interim (1xx) ones.
        func finalAnswer() -> [UInt8] {
            var text = String(decoding: response, as: UTF8.self)
            while text.hasPrefix("HTTP/1.1 1"), let end = text.range(of: "\r\n\r\n") {
                text = String(text[end.upperBound...])
            }
            return Array(text.utf8)
        }
        while finalAnswer().isEmpty || !isComplete(finalAnswer()) {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            response += buffer[0..<count]
        }
        return (interimAfter, String(decoding: response, as: UTF8.self))
    }

    /// Sends a chunked body of `total` bytes. With `keepSending`, it goes on sending after the
    /// answer, as a hostile sender would, until the server closes the connection.
    static func post(port: Int, path: String, total: Int, chunk: Int, keepSending: Bool = false) throws -> Exchange {
        let fd = try connectSocket(port: port)
        defer { close(fd) }

        let head =
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"
        guard sendAll(fd, Array(head.utf8)) else { throw HarnessError(description: "send head: \(errno)") }
        let frame =
            Array((String(chunk, radix: 16) + "\r\n").utf8) + [UInt8](repeating: UInt8(ascii: " "), count: chunk)
            + Array("\r\n".utf8)
        var sent = 0
        while sent < total {
            var readable = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&readable, 1, 2) > 0 { break }
            // A server that closed its side ends the upload too.
            guard sendAll(fd, frame) else { break }
            sent += chunk
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !isComplete(response) {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        var exchange = Exchange(sentBeforeAnswer: sent, response: String(decoding: response, as: UTF8.self))
        if keepSending {
            var after = 0
            while sent + after < total, sendAll(fd, frame) { after += chunk }
            exchange.sentAfterAnswer = after
        }
        return exchange
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return false }
            offset += count
        }
        return true
    }

    /// Whether `bytes` hold a whole answer with a `Content-Length` body.
    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let length = text[..<end.lowerBound].split(separator: "\r\n").compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first
        guard let length else { return true }
        return text[end.upperBound...].utf8.count >= length
    }
}
