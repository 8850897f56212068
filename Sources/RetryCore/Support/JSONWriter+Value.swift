extension JSONWriter {
    /// Writes `value` in its canonical form: compact, the members of every object in the byte
    /// order of their UTF-8 names, numbers as ``double(_:)`` writes them, strings escaped as
    /// ``string(_:)`` does. Two equal values are always written as the same bytes, which is what
    /// lets a journal line that holds a payload be checked byte for byte (see
    /// ``DeliveryPayload``).
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .number(let number): double(number)
        case .string(let text): string(text)
        case .array(let items):
            beginArray()
            for item in items { self.value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for name in members.keys.sorted(by: JSONValue.canonicalOrder) {
                key(name)
                self.value(members[name].unsafelyUnwrapped)
            }
            endObject()
        }
    }

    /// `value` in its canonical form (see ``value(_:)``).
    public static func canonical(_ value: JSONValue) -> [UInt8] {
        var writer = JSONWriter()
        writer.value(value)
        return writer.bytes
    }
}

extension JSONValue {
    /// The order of member names in canonical JSON: by their UTF-8 bytes.
    public static func canonicalOrder(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}
