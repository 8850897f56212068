import Foundation
import RetryCore

/// The payload a delivery record (or a snapshot's open episode) keeps, read by the fast decoder.
///
/// Replay never needs the payload's content, only to carry it to the open episode, so it is not
/// parsed into a `JSONValue`: its bytes are checked to be canonical JSON (what
/// ``JSONWriter/value(_:)`` writes for some value) in one pass that allocates nothing, then kept
/// as text. The general path parses the payload and writes it canonically, so for a canonical
/// payload both give the same text; anything else (whitespace, members out of order, a number
/// or escape written another way, deep nesting) goes to the general path.
extension JournalCodec.FastDecoder {
    /// Nesting the fast path reads inside a payload; deeper payloads take the general path.
    static let maximumPayloadDepth = 16

    /// `"payload_truncated":[…]` and `"payload":…` when present: `.some(nil)` when there is no
    /// payload, `nil` when the members are not in the canonical shape.
    mutating func optionalPayload() -> DeliveryPayload?? {
        var kept: [String]?
        if key("payload_truncated", first: false) {
            guard let paths = stringArray() else { return nil }
            kept = paths
        }
        guard key("payload", first: false) else { return kept == nil ? .some(nil) : nil }
        // The encoder never writes `null` here; the general path reads it as no payload.
        let start = cursor.index
        guard start < bytes.count, bytes[start] != UInt8(ascii: "n") else { return nil }
        guard canonicalValue(depth: 0), let base = bytes.baseAddress else { return nil }
        let text = UnsafeRawBufferPointer(start: base + start, count: cursor.index - start)
        guard let json = String(validating: text, as: UTF8.self) else { return nil }
        return .some(DeliveryPayload(canonicalJSON: json, keptPaths: kept))
    }

    /// `["a","b"]`: strings read by the general lexer.
    private mutating func stringArray() -> [String]? {
        guard literal("[") else { return nil }
        var items: [String] = []
        if literal("]") { return items }
        while true {
            guard let item = string() else { return nil }
            items.append(item)
            if literal("]") { return items }
            guard literal(",") else { return nil }
        }
    }

    /// Consumes one JSON value at the cursor when it is written exactly as ``JSONWriter/value(_:)``
    /// writes it: no whitespace; members in the byte order of their names (so no name twice),
    /// names without escapes; strings escaped only where the writer escapes; integers of at
    /// most 15 digits without a leading zero (other numbers go to the general path). UTF-8 is
    /// checked by the caller, over the whole value.
    private mutating func canonicalValue(depth: Int) -> Bool {
        guard cursor.index < bytes.count else { return false }
        switch bytes[cursor.index] {
        case UInt8(ascii: "{"):
            guard depth < Self.maximumPayloadDepth else { return false }
            cursor.index += 1
            if literal("}") { return true }
            var previous: UnsafeRawBufferPointer?
            while true {
                guard let name = plainString(), literal(":") else { return false }
                if let previous, !Self.precedes(previous, name) { return false }
                previous = name
                guard canonicalValue(depth: depth + 1) else { return false }
                if literal("}") { return true }
                guard literal(",") else { return false }
            }
        case UInt8(ascii: "["):
            guard depth < Self.maximumPayloadDepth else { return false }
            cursor.index += 1
            if literal("]") { return true }
            while true {
                guard canonicalValue(depth: depth + 1) else { return false }
                if literal("]") { return true }
                guard literal(",") else { return false }
            }
        case UInt8(ascii: "\""):
            if plainString() != nil { return true }
            return canonicalEscapedString()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return canonicalInteger()
        }
    }

    /// A string with escapes: read by the general lexer, then written again by the writer; the
    /// bytes must be the same.
    private mutating func canonicalEscapedString() -> Bool {
        let start = cursor.index
        guard let text = string(), let base = bytes.baseAddress else { return false }
        var writer = JSONWriter()
        writer.string(text)
        let written = writer.bytes
        return written.count == cursor.index - start
            && written.withUnsafeBytes { memcmp($0.baseAddress.unsafelyUnwrapped, base + start, written.count) == 0 }
    }

    /// `0`, or an optional `-` and 1–15 digits not starting with `0`, not `-0`: exactly what the
    /// writer writes for an integral number below 10^15.
    private mutating func canonicalInteger() -> Bool {
        var index = cursor.index
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let digitsStart = index
        while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
        let digits = index - digitsStart
        guard digits > 0, digits <= 15 else { return false }
        if bytes[digitsStart] == UInt8(ascii: "0"), digits > 1 || negative { return false }
        if index < bytes.count {
            let next = bytes[index]
            guard next != UInt8(ascii: "."), next | 0x20 != UInt8(ascii: "e") else { return false }
        }
        cursor.index = index
        return true
    }

    /// Whether `lhs` sorts strictly before `rhs`, byte by byte (a prefix first).
    private static func precedes(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        let common = min(lhs.count, rhs.count)
        if common > 0, let left = lhs.baseAddress, let right = rhs.baseAddress {
            let order = memcmp(left, right, common)
            if order != 0 { return order < 0 }
        }
        return lhs.count < rhs.count
    }
}
