import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Turns an answer body into an HTTP response: JSON with a trailing newline (so `curl` prints it
/// on its own line), `Content-Type: application/json`, the status, and any extra headers.
///
/// Every JSON answer of both listeners goes through here; the journal keeps its own exact-byte
/// writer, which these answers never use.
enum JSONAnswer {
    /// `body` as the response with `status`.
    static func response<Body: Encodable>(
        _ status: HTTPResponse.Status, _ body: Body, headers: HTTPFields = [:]
    ) -> Response {
        var bytes = (try? AnswerEncoder.encode(body)) ?? Array(#"{"error":"unencodable answer"}"#.utf8)
        bytes.append(0x0A)
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `{"error": message}` with `status`.
    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        response(status, ErrorAnswer(error: message), headers: headers)
    }
}

/// `{"error": "…"}`: what went wrong, in a sentence that never holds a secret.
public struct ErrorAnswer: ResponseEncodable, Sendable, Hashable {
    public var error: String
}
