import RetryCore
import RetryJournal

/// `journal-line`: journal line decoding, the fast decoder against the general one.
///
/// `JournalCodec.decode` reads a line in the encoder's exact shape with the fast, schema-driven
/// decoder and anything else with the general one (a `JSONValue` tree). The general path alone is
/// reached through the public API by writing the same line with one leading space, which the fast
/// decoder refuses at its first byte and JSON ignores. So no internal API is needed.
///
/// The input is one or more lines (`\n`-separated). A line that ends in a `,"crc":"…"}` suffix
/// keeps its body and gets the right checksum; any other line is taken as a body and gets the
/// suffix appended, so mutations reach the decoders instead of stopping at the checksum.
///
/// Properties:
/// - the input exactly as given decodes only when its checksum matches, and a mismatch is
///   reported as one (`checksumMatched == false`);
/// - the fast path (with the general fallback) and the general path agree: both refuse the line,
///   or both give the same record;
/// - a decoded record encodes to a line that both paths read back alike, exactly as the record
///   when the input was already in the encoder's shape, and whose encoding is a fixpoint;
/// - `JournalReader.scan`, which shares one decoder (and its string table) across lines, gives the
///   same records as decoding each line alone.
enum JournalLineTarget {
    static let target = FuzzTarget(
        name: "journal-line",
        summary: "journal lines: fast and general decoders agree; encode/decode round trip; scan",
        maximumLength: 2048,
        run: run)

    static let crcPrefix = Array(#","crc":""#.utf8)
    /// `,"crc":"` + 8 hex digits + `"}`.
    static let suffixLength = 18

    /// `body` with the checksum suffix the encoder writes (no newline).
    static func withChecksum(_ body: some Collection<UInt8>) -> [UInt8] {
        var line = Array(body)
        let crc = line.withUnsafeBytes { CRC32C.checksum($0) }
        line += crcPrefix
        line += Array(String(crc, radix: 16).leftPadded(to: 8).utf8)
        line += Array(#""}"#.utf8)
        return line
    }

    /// The body of `line`: without a trailing `,"crc":"…"}` suffix when it has one.
    static func body(of line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard line.count >= suffixLength else { return line }
        let start = line.count - suffixLength
        let suffix = line[start...]
        guard suffix.starts(with: crcPrefix), suffix.last == UInt8(ascii: "}") else { return line }
        return UnsafeRawBufferPointer(rebasing: line[..<start])
    }

    static func decode(_ line: [UInt8]) -> Result<JournalRecord, JournalCodec.DecodeError> {
        Result { () throws(JournalCodec.DecodeError) in try JournalCodec.decode(line) }
    }

    /// Through the general path only: the same line with a leading space.
    static func decodeGeneral(body: some Collection<UInt8>) -> Result<JournalRecord, JournalCodec.DecodeError> {
        decode(withChecksum([UInt8(ascii: " ")] + Array(body)))
    }

    static func run(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        var lines: [[UInt8]] = []
        var records: [JournalRecord] = []
        for raw in bytes.pieces(separatedBy: UInt8(ascii: "\n")) where !raw.isEmpty {
            if !JournalCodec.checksumMatches(raw) {
                guard case .failure(let error) = decode(Array(raw)) else {
                    throw PropertyViolation(message: "a line whose checksum does not match was decoded")
                }
                try require(!error.checksumMatched, "a checksum mismatch reported as \(error)")
            }
            let body = body(of: raw)
            let line = withChecksum(body)
            let fast = decode(line)
            let general = decodeGeneral(body: body)
            switch (fast, general) {
            case (.success(let first), .success(let second)):
                try require(first == second, "fast and general decoders disagree:\n\(shown(first))\n\(shown(second))")
                try checkRoundTrip(first, line: line)
                records.append(first)
            case (.failure, .failure):
                break
            case (.success(let record), .failure(let error)):
                throw PropertyViolation(
                    message: "only the fast path reads the line (general: \(error)): \(shown(record))")
            case (.failure(let error), .success(let record)):
                throw PropertyViolation(
                    message: "only the general path reads the line (fast: \(error)): \(shown(record))")
            }
            lines.append(line)
        }

        // One shared decoder across the lines, as replay does.
        var joined: [UInt8] = []
        for line in lines { joined += line + [UInt8(ascii: "\n")] }
        var scanned: [JournalRecord] = []
        _ = JournalReader.scan(joined) { scanned.append($0) }
        var remaining = records[...]
        for record in scanned {
            guard let index = remaining.firstIndex(of: record) else {
                throw PropertyViolation(message: "scan gave a record no line decodes to: \(shown(record))")
            }
            remaining = remaining[(index + 1)...]
        }
    }

    /// A decoded record, encoded, reads back the same on both paths; encoding is then a fixpoint.
    ///
    /// Exactly the same record unless the line was in another spelling: the general path reads
    /// any ISO 8601 time to the nanosecond (and one without a zone as UTC), while the journal
    /// writes milliseconds, so the first encoding of such a record rounds its times. From then on
    /// nothing changes: the encoding of what was read back is byte for byte the same line.
    static func checkRoundTrip(_ record: JournalRecord, line: [UInt8]) throws(PropertyViolation) {
        var encoded = JournalCodec.encode(record)
        try require(encoded.last == UInt8(ascii: "\n"), "an encoded line does not end with a newline")
        encoded.removeLast()
        let canonical = encoded == line
        let again: JournalRecord
        switch decode(encoded) {
        case .success(let record): again = record
        case .failure(let error):
            throw PropertyViolation(
                message:
                    "an encoded record does not decode (\(error)): \(shown(String(decoding: encoded, as: UTF8.self)))")
        }
        try require(
            !canonical || again == record, "a line in the encoder's own shape decodes to another record")
        let body = encoded.withUnsafeBytes { Array(Self.body(of: $0)) }
        let general = decodeGeneral(body: body)
        try require(
            (try? general.get()) == again, "the general path reads an encoded record differently: \(shown(general))")
        var reencoded = JournalCodec.encode(again)
        reencoded.removeLast()
        try require(
            reencoded == encoded,
            "encoding is not stable:\n\(shown(String(decoding: encoded, as: UTF8.self)))\n"
                + shown(String(decoding: reencoded, as: UTF8.self)))
    }
}

extension String {
    /// The string with zeros in front up to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
