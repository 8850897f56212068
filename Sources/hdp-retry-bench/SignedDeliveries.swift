import COpenSSL
import Foundation

/// One task-failure notice, unique by delivery id and by task id.
struct Delivery: Sendable {
    /// The `webhook-id`, unique per delivery.
    var id: String
    /// The body: HDP's callback shape, about a task never seen before.
    var body: [UInt8]
}

/// Makes unique deliveries and signs them the way each receiver checks them, ahead of the load,
/// so that signing costs the load generator nothing.
///
/// The secret's key bytes are printable ASCII, so that the agent (`whsec_` + base64 of the key,
/// Standard Webhooks) and the peer (`webhook`'s `payload-hmac-sha256`, whose secret is a JSON
/// string) verify with the same key bytes.
struct DeliveryFactory {
    /// The HMAC key both receivers use.
    let key: [UInt8]
    /// The agent's form of the key: `whsec_` + base64.
    var agentSecret: String { "whsec_" + Data(key).base64EncodedString() }
    /// The peer's form of the key: the same bytes as text.
    var peerSecret: String { String(decoding: key, as: UTF8.self) }

    /// 40 random bits that make this run's ids differ from any other run's.
    private let runTag: UInt64
    /// Deliveries made so far (the next one's sequence number).
    private var made: UInt64 = 0
    /// The ULIDs' 48-bit millisecond time, fixed for the run.
    private let milliseconds: UInt64

    init() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        key = (0..<32).map { _ in alphabet.randomElement(using: &generator)! }
        runTag = generator.next() & 0xFF_FFFF_FFFF
        milliseconds = UInt64(Date().timeIntervalSince1970 * 1000) & 0xFFFF_FFFF_FFFF
    }

    /// `count` new deliveries, each about a new task.
    mutating func make(_ count: Int) -> [Delivery] {
        let now = Self.isoTimestamp(Date())
        var deliveries = [Delivery]()
        deliveries.reserveCapacity(count)
        for _ in 0..<count {
            let sequence = made
            made += 1
            let task = Self.ulid(
                high: milliseconds << 16 | runTag >> 24, low: (runTag & 0xFF_FFFF) << 40 | sequence)
            let id = "msg_" + String(runTag, radix: 16) + "_" + String(sequence, radix: 36)
            let body =
                #"{"task_id":"\#(task)","status":"AtlanticProvingFailed","error":"prover timeout","timestamp":"\#(now)"}"#
            deliveries.append(Delivery(id: id, body: Array(body.utf8)))
        }
        return deliveries
    }

    /// A request the agent accepts: Standard Webhooks headers over `{id}.{timestamp}.{body}`.
    func agentRequest(_ delivery: Delivery, port: Int, path: String, timestamp: Int) -> [UInt8] {
        let content = Array("\(delivery.id).\(timestamp).".utf8) + delivery.body
        let signature = Data(Self.hmacSHA256(key: key, data: content)).base64EncodedString()
        return Self.post(
            path: path, port: port,
            headers: [
                ("webhook-id", delivery.id), ("webhook-timestamp", "\(timestamp)"),
                ("webhook-signature", "v1,\(signature)"),
            ],
            body: delivery.body)
    }

    /// A request the agent refuses with 401 after checking it: well-formed, signed with another key.
    func badSignatureRequest(_ delivery: Delivery, port: Int, path: String, timestamp: Int) -> [UInt8] {
        let content = Array("\(delivery.id).\(timestamp).".utf8) + delivery.body
        let signature = Data(Self.hmacSHA256(key: key.reversed(), data: content)).base64EncodedString()
        return Self.post(
            path: path, port: port,
            headers: [
                ("webhook-id", delivery.id), ("webhook-timestamp", "\(timestamp)"),
                ("webhook-signature", "v1,\(signature)"),
            ],
            body: delivery.body)
    }

    /// A request the peer accepts: `X-Hub-Signature-256: sha256=<hex>` over the body.
    func peerRequest(_ delivery: Delivery, port: Int, path: String) -> [UInt8] {
        let mac = Self.hmacSHA256(key: key, data: delivery.body)
        let hex = mac.map { String(format: "%02x", $0) }.joined()
        return Self.post(
            path: path, port: port, headers: [("X-Hub-Signature-256", "sha256=" + hex)], body: delivery.body)
    }

    /// A `GET` request.
    static func get(path: String, port: Int) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n".utf8)
    }

    /// The bytes of a `POST`, as `wrk.format` would write them (Host and Content-Length added).
    static func post(path: String, port: Int, headers: [(String, String)], body: [UInt8]) -> [UInt8] {
        var text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "Content-Length: \(body.count)\r\n\r\n"
        return Array(text.utf8) + body
    }

    /// HMAC-SHA256 from the system OpenSSL, the library the agent verifies with.
    static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withUnsafeBufferPointer { keyBuffer in
            data.withUnsafeBufferPointer { dataBuffer in
                output.withUnsafeMutableBufferPointer { out in
                    HMAC(
                        EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count), dataBuffer.baseAddress,
                        dataBuffer.count, out.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == 32, "OpenSSL HMAC-SHA256 failed")
        return Array(output.prefix(32))
    }

    /// The 26 Crockford base32 digits of a 128-bit ULID.
    static func ulid(high: UInt64, low: UInt64) -> String {
        let digits = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        var out = [UInt8](repeating: 0, count: 26)
        for index in 0..<26 {
            let shift = 5 * (25 - index)
            let digit: UInt64
            if shift >= 64 {
                digit = (high >> UInt64(shift - 64)) & 31
            } else if shift > 59 {
                digit = ((low >> UInt64(shift)) | (high << UInt64(64 - shift))) & 31
            } else {
                digit = (low >> UInt64(shift)) & 31
            }
            out[index] = digits[Int(digit)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-30T05:54:08.123Z`.
    static func isoTimestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Request files for `wrk`: one file per wrk thread, each request as its length in decimal, a
/// newline, then its bytes (the generated Lua script splits them once, before the load starts).
enum RequestFiles {
    /// Writes `requests` round-robin into `slices` files `prefix-0`, `prefix-1`, …; returns the
    /// number of requests in each.
    static func write(_ requests: [[UInt8]], slices: Int, prefix: String) throws -> [Int] {
        var buffers = [[UInt8]](repeating: [], count: slices)
        var counts = [Int](repeating: 0, count: slices)
        for (index, request) in requests.enumerated() {
            let slice = index % slices
            buffers[slice].append(contentsOf: Array("\(request.count)\n".utf8))
            buffers[slice].append(contentsOf: request)
            counts[slice] += 1
        }
        for (slice, buffer) in buffers.enumerated() {
            try Data(buffer).write(to: URL(fileURLWithPath: "\(prefix)-\(slice)"))
        }
        return counts
    }
}
