import NIOCore
import NIOHTTP1
import NIOPosix

/// Why a callback delivery got no answer. The `reason` is stable.
public struct CallbackDeliveryError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: String, Sendable, Hashable {
        case timedOut = "timed_out"
        case closedEarly = "closed_early"
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    /// A stable identifier of the kind of problem.
    public var reason: String { base.rawValue }

    /// A few words for the delivery log.
    public var description: String {
        switch base {
        case .timedOut: "timed out"
        case .closedEarly: "connection closed before a response"
        }
    }

    /// No complete answer within the delivery timeout.
    public static let timedOut = Self(.timedOut)
    /// The receiver closed the connection before it answered.
    public static let closedEarly = Self(.closedEarly)
}

/// Just enough HTTP/1.1 client to POST a callback over plain TCP: one request per connection
/// (`Connection: close`), the answer's status code and nothing else. The simulator's target has no
/// HTTP client library, and a callback needs neither pooling, redirects nor TLS.
enum CallbackHTTPClient {
    /// POSTs `body` with `headers` to `target` and returns the status code of the answer; throws
    /// when there is none within `timeout` (connecting included).
    static func post(
        _ body: [UInt8], headers: CallbackHeaders, to target: CallbackTarget, timeout: Duration
    ) async throws -> Int {
        try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask { try await exchange(body, headers: headers, target: target, timeout: timeout) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let status = try await group.next() ?? nil else { throw CallbackDeliveryError.timedOut }
            return status
        }
    }

    /// A few words on why a delivery got no answer, for the delivery log.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as CallbackDeliveryError: error.description
        case is CancellationError: "cancelled"
        case ChannelError.connectTimeout: "timed out"
        case let error as NIOConnectionError:
            "connection failed: \(error.connectionErrors.first.map { "\($0.error)" } ?? "\(error)")"
        default: String("connection failed: \(error)".prefix(200))
        }
    }

    private static func exchange(
        _ body: [UInt8], headers: CallbackHeaders, target: CallbackTarget, timeout: Duration
    ) async throws -> Int {
        let (seconds, attoseconds) = timeout.components
        let connectTimeout = TimeAmount.milliseconds(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(connectTimeout)
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.requestTarget)
        head.headers.add(name: "Host", value: target.hostHeader)
        head.headers.add(name: "User-Agent", value: "hdp-sim")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            try await outbound.write(.end(nil))
            var status: Int?
            for try await part in inbound {
                switch part {
                case .head(let response) where response.status.code >= 200: status = Int(response.status.code)
                case .head, .body: continue
                case .end: if let status { return status }
                }
            }
            throw CallbackDeliveryError.closedEarly
        }
    }
}
