import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 keep-alive connection to a port on 127.0.0.1: write one request, read one
/// response (Content-Length or chunked). Small and synchronous on purpose: one connection per
/// thread, no event loop between the clock and the socket.
final class LoopbackConnection {
    /// The port on 127.0.0.1.
    let port: Int
    /// Seconds a read or a write may block before the exchange fails.
    let timeout: Double
    private var socket: Int32 = -1
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65_536)

    /// A connection that connects on first use (and again after the server closed it).
    init(port: Int, timeout: Double = 5) {
        self.port = port
        self.timeout = timeout
    }

    deinit { close() }

    /// A response: its status and, when asked for, its body.
    struct Response {
        var status: Int
        var body: [UInt8]
    }

    /// Sends `request` and reads its response. A connection the server closed in between is
    /// reopened once; any other failure throws, and the next exchange starts on a new connection.
    func exchange(_ request: [UInt8], keepBody: Bool = false) throws -> Response {
        let fresh = socket < 0
        if fresh { try open() }
        do {
            return try attempt(request, keepBody: keepBody)
        } catch is ConnectionClosed where !fresh {
            close()
            try open()
            return try attempt(request, keepBody: keepBody)
        } catch {
            close()
            throw error
        }
    }

    /// Closes the socket.
    func close() {
        if socket >= 0 { Glibc.close(socket) }
        socket = -1
        buffer.removeAll(keepingCapacity: true)
    }

    private struct ConnectionClosed: Error {}

    private func open() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchmarkError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(fd)
            throw BenchmarkError("connect 127.0.0.1:\(port): \(message)")
        }
        socket = fd
        buffer.removeAll(keepingCapacity: true)
    }

    private func attempt(_ request: [UInt8], keepBody: Bool) throws -> Response {
        try request.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let count = send(socket, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                if count < 0, errno == EINTR { continue }
                if count < 0, errno == EPIPE || errno == ECONNRESET { throw ConnectionClosed() }
                guard count > 0 else { throw BenchmarkError("send: \(String(cString: strerror(errno)))") }
                sent += count
            }
        }
        // Headers.
        var headerEnd: Int?
        while true {
            if let end = Self.find(Self.headerTerminator, in: buffer) {
                headerEnd = end
                break
            }
            try fill(closedBeforeAnyByte: buffer.isEmpty)
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        var bodyStart = headerEnd! + 4
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw BenchmarkError("not an HTTP response: \(lines.first ?? "")")
        }
        var contentLength: Int?
        var chunked = false
        var closes = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
            switch name {
            case "content-length": contentLength = Int(value)
            case "transfer-encoding": chunked = value.contains("chunked")
            case "connection": closes = value.contains("close")
            default: break
            }
        }
        var body: [UInt8] = []
        if chunked {
            while true {
                var lineEnd = Self.find(Self.lineTerminator, in: buffer, from: bodyStart)
                while lineEnd == nil {
                    try fill(closedBeforeAnyByte: false)
                    lineEnd = Self.find(Self.lineTerminator, in: buffer, from: bodyStart)
                }
                let sizeText = String(decoding: buffer[bodyStart..<lineEnd!], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else {
                    throw BenchmarkError("bad chunk size \(sizeText)")
                }
                let dataStart = lineEnd! + 2
                while buffer.count < dataStart + size + 2 { try fill(closedBeforeAnyByte: false) }
                if keepBody { body.append(contentsOf: buffer[dataStart..<dataStart + size]) }
                bodyStart = dataStart + size + 2
                if size == 0 { break }
            }
        } else {
            let length = contentLength ?? 0
            while buffer.count < bodyStart + length { try fill(closedBeforeAnyByte: false) }
            if keepBody { body = Array(buffer[bodyStart..<bodyStart + length]) }
            bodyStart += length
        }
        buffer.removeSubrange(..<bodyStart)
        if closes { close() }
        return Response(status: status, body: body)
    }

    /// Reads what the socket has into ``buffer``.
    private func fill(closedBeforeAnyByte: Bool) throws {
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[..<count])
                return
            }
            if count < 0, errno == EINTR { continue }
            if closedBeforeAnyByte, count == 0 || errno == ECONNRESET { throw ConnectionClosed() }
            if count == 0 { throw BenchmarkError("connection closed in the middle of a response") }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw BenchmarkError("no response within \(timeout) s") }
            throw BenchmarkError("recv: \(String(cString: strerror(errno)))")
        }
    }

    private static let headerTerminator: [UInt8] = [13, 10, 13, 10]
    private static let lineTerminator: [UInt8] = [13, 10]

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= needle.count + start else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }

    /// A free TCP port on 127.0.0.1 (bound, read, released: free unless something takes it in
    /// between, which a start that fails to bind reports).
    static func freePort() throws -> Int {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchmarkError("socket: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw BenchmarkError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
