import RetryCore

/// Encodes the `Encodable` answer types straight into compact JSON bytes, members in the order the
/// type encodes them (its `CodingKeys` order), optionals that are `nil` left out.
///
/// Foundation's `JSONEncoder` builds a tree of values and then serialises it; on the webhook path
/// that cost more CPU than the rest of the answer. This writes through a ``JSONWriter`` as the
/// value encodes itself: a nested value is written in place, and its container is closed when its
/// `encode(to:)` returns. It supports what the answers use: keyed and unkeyed containers, single
/// values, nesting.
enum AnswerEncoder {
    /// The JSON of `value`.
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let output = Output()
        let encoder = StreamEncoder(output: output, codingPath: [])
        try value.encode(to: encoder)
        encoder.finish()
        return output.writer.bytes
    }

    /// The bytes written so far, shared by every encoder of one answer.
    final class Output {
        var writer = JSONWriter()
    }

    /// What a nested encoder opened, so that its parent can close it.
    enum Opened {
        case nothing
        case object
        case array
        case value
    }

    final class StreamEncoder: Encoder {
        let output: Output
        let codingPath: [any CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        var opened = Opened.nothing

        init(output: Output, codingPath: [any CodingKey]) {
            self.output = output
            self.codingPath = codingPath
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            if opened == .nothing {
                output.writer.beginObject()
                opened = .object
            }
            return KeyedEncodingContainer(Keyed<Key>(encoder: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            if opened == .nothing {
                output.writer.beginArray()
                opened = .array
            }
            return Unkeyed(encoder: self)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            Single(encoder: self)
        }

        /// Closes what this encoder opened; a value that encoded nothing is `null`.
        func finish() {
            switch opened {
            case .object: output.writer.endObject()
            case .array: output.writer.endArray()
            case .value: break
            case .nothing: output.writer.null()
            }
        }

        /// Writes `value` in place (its key, if any, already written).
        func write(_ value: some Encodable, at path: [any CodingKey]) throws {
            switch value {
            case let text as String: output.writer.string(text)
            case let flag as Bool: output.writer.bool(flag)
            case let number as Int: output.writer.int(number)
            // Every other number is written here too: handing it to its own `encode(to:)` would
            // come straight back through a single-value container, for ever.
            case let number as any BinaryInteger: output.writer.raw(String(describing: number))
            case let number as Double: output.writer.double(number)
            case let number as any BinaryFloatingPoint: output.writer.double(Double(number))
            default:
                let child = StreamEncoder(output: output, codingPath: path)
                try value.encode(to: child)
                child.finish()
            }
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: StreamEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil(forKey key: Key) throws {
            encoder.output.writer.key(key.stringValue)
            encoder.output.writer.null()
        }

        mutating func encode(_ value: some Encodable, forKey key: Key) throws {
            encoder.output.writer.key(key.stringValue)
            try encoder.write(value, at: codingPath + [key])
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            preconditionFailure("nested containers are not used by the answers")
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            preconditionFailure("nested containers are not used by the answers")
        }

        mutating func superEncoder() -> any Encoder { encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: StreamEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }
        private(set) var count = 0

        init(encoder: StreamEncoder) {
            self.encoder = encoder
        }

        mutating func encodeNil() throws {
            encoder.output.writer.null()
            count += 1
        }

        mutating func encode(_ value: some Encodable) throws {
            try encoder.write(value, at: codingPath)
            count += 1
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type
        )
            -> KeyedEncodingContainer<NestedKey>
        {
            preconditionFailure("nested containers are not used by the answers")
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            preconditionFailure("nested containers are not used by the answers")
        }

        mutating func superEncoder() -> any Encoder { encoder }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: StreamEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        mutating func encodeNil() throws {
            encoder.opened = .value
            encoder.output.writer.null()
        }

        mutating func encode(_ value: some Encodable) throws {
            encoder.opened = .value
            try encoder.write(value, at: codingPath)
        }
    }
}
