import HTTPTypes
import NIOCore
import NIOHTTPTypes
import RetryCore

/// Closes a webhook connection once a `413 Content Too Large` answer has been written.
///
/// After a response, the HTTP server reads and discards whatever is left of the request body so
/// that the connection can serve the next request. For a body that is over the limit that would
/// let one sender keep a connection (and the agent's reading) busy for as long as it keeps
/// sending. Closing instead bounds the work to the limit.
final class CloseAfterOversizedBody: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var closeAfterEnd = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            if head.status == .contentTooLarge { closeAfterEnd = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closeAfterEnd else {
                context.write(data, promise: promise)
                return
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
            context.writeAndFlush(data, promise: written)
        }
    }
}
