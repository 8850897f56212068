import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The limits every listener enforces against slow or hostile clients (SPEC §9).
public struct ListenerLimits: Sendable, Hashable {
    /// Open connections at most; more are closed as soon as they are accepted.
    public var maxConnections = 1024
    /// A request must arrive whole (request line, headers and body) within this time of its
    /// first byte, or the connection is closed.
    public var requestTimeout: Duration = .seconds(10)
    /// The request line and headers together at most; more is refused before the body is read.
    public var maxHeaderBytes = 16_384
    /// A connection that sends nothing for this long is closed (idle between requests).
    public var idleTimeout: Duration = .seconds(15)

    public init() {}
}

/// Why a listener closed a connection itself: `hdp_retry_listener_closed_connections_total{reason}`.
public enum ListenerCloseReason: String, Sendable, Hashable, CaseIterable {
    /// The request did not arrive whole within `webhook.request_timeout`.
    case requestTimeout = "request_timeout"
    /// `webhook.max_connections` connections were already open.
    case maxConnections = "max_connections"
}

/// Counts a listener's open connections and what it closed on its own; shared by the
/// connections' handlers, read by metrics.
public final class ListenerGauge: Sendable {
    private let state = Mutex((open: 0, closed: [ListenerCloseReason: Int]()))
    /// Called when a connection is closed by a limit (for metrics).
    private let onClose: @Sendable (ListenerCloseReason) -> Void
    /// Called with the number of open connections when it changes (for metrics).
    private let onOpenChange: @Sendable (Int) -> Void

    public init(
        onClose: @escaping @Sendable (ListenerCloseReason) -> Void = { _ in },
        onOpenChange: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.onClose = onClose
        self.onOpenChange = onOpenChange
    }

    /// Connections open now.
    public var open: Int { state.withLock { $0.open } }

    /// Connections closed for `reason` so far.
    public func closed(_ reason: ListenerCloseReason) -> Int { state.withLock { $0.closed[reason] ?? 0 } }

    /// Counts a new connection; `false` when it is one too many (it is then not counted).
    func admit(limit: Int) -> Bool {
        let (admitted, open) = state.withLock { state in
            guard state.open < limit else { return (false, state.open) }
            state.open += 1
            return (true, state.open)
        }
        if admitted { onOpenChange(open) } else { record(.maxConnections) }
        return admitted
    }

    func release() {
        let open = state.withLock { state in
            state.open -= 1
            return state.open
        }
        onOpenChange(open)
    }

    func record(_ reason: ListenerCloseReason) {
        state.withLock { $0.closed[reason, default: 0] += 1 }
        onClose(reason)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with ``ListenerLimits`` enforced, plus `additionalChannelHandlers` after the
    /// HTTP codec (as in `http1(configuration:)`).
    static func limitedHTTP1(
        limits: ListenerLimits, gauge: ListenerGauge,
        additionalChannelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] }
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            let configuration = HTTP1Channel.Configuration(
                additionalChannelHandlers: additionalChannelHandlers() + [RequestDeadline.PartSide()],
                idleTimeout: TimeAmount(limits.idleTimeout),
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: limits.maxHeaderBytes, maxHeaderListSize: limits.maxHeaderBytes,
                    maxHeaderFieldCount: 1000))
            return LimitedHTTP1Channel(
                inner: HTTP1Channel(responder: responder, configuration: configuration), limits: limits, gauge: gauge)
        }
    }
}

/// `HTTP1Channel` with two handlers in front of the HTTP codec: the connection gate (at most
/// `maxConnections` open) and the raw side of the request deadline (a request's first byte
/// starts its clock, so headers trickled a byte at a time are bounded too).
struct LimitedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let limits: ListenerLimits
    let gauge: ListenerGauge

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limits = self.limits
        let gauge = self.gauge
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                ConnectionGate(limit: limits.maxConnections, gauge: gauge), position: .first)
            try channel.pipeline.syncOperations.addHandler(
                RequestDeadline(timeout: TimeAmount(limits.requestTimeout), gauge: gauge), position: .last)
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes a connection accepted while `limit` connections are already open.
final class ConnectionGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let limit: Int
    private let gauge: ListenerGauge
    private var counted = false

    init(limit: Int, gauge: ListenerGauge) {
        self.limit = limit
        self.gauge = gauge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseIfCounted()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        releaseIfCounted()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard counted else { return }
        context.fireChannelRead(data)
    }

    private func admit(context: ChannelHandlerContext) {
        guard !counted else { return }
        if gauge.admit(limit: limit) {
            counted = true
        } else {
            context.close(promise: nil)
        }
    }

    private func releaseIfCounted() {
        guard counted else { return }
        counted = false
        gauge.release()
    }
}

/// The whole-request deadline: a request must arrive complete within `timeout` of its first byte.
///
/// Two handlers share the clock: this one sits before the HTTP codec and starts it at the first
/// byte of a request (so a head trickled a byte at a time is bounded, which the idle timeout,
/// restarted by every byte, does not do); ``PartSide`` sits after the codec and stops it when the
/// request's end arrives (or starts it at a head, for a request that came pipelined behind
/// another). When the clock runs out the connection is closed; the route, if it was reading the
/// body, sees it cut short.
final class RequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let gauge: ListenerGauge
    private var timer: Scheduled<Void>?
    /// Between a request's `.end` and the next request's first byte.
    private var idle = true

    init(timeout: TimeAmount, gauge: ListenerGauge) {
        self.timeout = timeout
        self.gauge = gauge
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if idle { start(context: context) }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    /// A request began (its first byte, or its head).
    func start(context: ChannelHandlerContext) {
        guard idle else { return }
        idle = false
        timer?.cancel()
        let gauge = self.gauge
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            gauge.record(.requestTimeout)
            channel.close(promise: nil)
        }
    }

    /// The request arrived whole.
    func finish() {
        idle = true
        timer?.cancel()
        timer = nil
    }

    /// The side after the HTTP codec: finds its ``RequestDeadline`` in the pipeline.
    final class PartSide: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart

        private var deadline: RequestDeadline?
        private var deadlineContext: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) {
            deadline = try? context.pipeline.syncOperations.handler(type: RequestDeadline.self)
            deadlineContext = try? context.pipeline.syncOperations.context(handlerType: RequestDeadline.self)
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            deadline = nil
            deadlineContext = nil
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head:
                if let deadline, let deadlineContext { deadline.start(context: deadlineContext) }
            case .end:
                deadline?.finish()
            case .body:
                break
            }
            context.fireChannelRead(data)
        }
    }
}
