import HTTPTypes
import NIOCore
import NIOHTTPTypes
import RetryCore

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request head arrives, when
/// the announced body fits the limit.
///
/// Clients that send the header (curl for bodies over 1 KiB, .NET's HttpClient for every POST)
/// wait for the interim answer before sending the body, and give up waiting only after about a
/// second; Hummingbird never sends it, so each of their deliveries took a second longer. A body
/// announced over the limit gets no `100`: the route answers 413 from the Content-Length alone,
/// and the client never sends it.
final class ContinueBeforeBody: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private let maxBodyBytes: Int

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data), Self.expectsContinue(head, maxBodyBytes: maxBodyBytes) {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }

    /// Whether `head` asks for `100 Continue` and announces a body that fits `maxBodyBytes`.
    static func expectsContinue(_ head: HTTPRequest, maxBodyBytes: Int) -> Bool {
        guard let expect = head.headerFields[.expect], expect.lowercased() == "100-continue" else { return false }
        guard let length = head.headerFields[.contentLength] else { return true }
        guard let bytes = Int(length) else { return false }
        return bytes <= maxBodyBytes
    }
}
