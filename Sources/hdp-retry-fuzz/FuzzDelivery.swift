/// A webhook delivery read from fuzz bytes written like an HTTP/1.1 message: `name: value` lines,
/// an empty line, then the body. Seeds are therefore readable, and real captured deliveries.
///
/// Lines end with `\n` (a `\r` before it is dropped); a line without `:` is ignored; without an
/// empty line, everything is headers and the body is empty.
struct FuzzDelivery {
    /// The header fields in order, names as written.
    var fields: [(name: String, value: String)] = []
    /// The raw body.
    var body: [UInt8] = []

    /// Reads `bytes`.
    init(_ bytes: UnsafeRawBufferPointer) {
        var start = 0
        while start < bytes.count {
            guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                addField(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                return
            }
            var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if line.last == UInt8(ascii: "\r") { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            start = end + 1
            if line.isEmpty {
                body = Array(bytes[start...])
                return
            }
            addField(line)
        }
    }

    /// A delivery with these fields and body.
    init(fields: [(name: String, value: String)], body: [UInt8]) {
        self.fields = fields
        self.body = body
    }

    private mutating func addField(_ line: UnsafeRawBufferPointer) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = String(decoding: line[..<colon], as: UTF8.self)
        let value = line[(colon + 1)...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        fields.append((name, String(decoding: value, as: UTF8.self)))
    }

    /// A header as the listener hands it to the verifier: the name compared without regard to
    /// ASCII case, repeated fields joined with `, ` (as swift-http-types' `HTTPFields` does).
    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        let values = fields.filter { $0.name.lowercased() == wanted }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// The first of `names` that is present and not empty, as the verifier reads the Standard
    /// Webhooks headers and their Svix spellings.
    func firstNonEmpty(_ names: [String]) -> String? {
        for name in names {
            if let value = header(name), !value.isEmpty { return value }
        }
        return nil
    }
}
