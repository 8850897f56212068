/// A parsed JSON document, kept whole so that rules can match dotted paths into any payload.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses `bytes` as one JSON document; throws on malformed input.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParser.SyntaxError) -> JSONValue {
        try JSONParser.parse(Array(bytes))
    }

    /// The value at a dotted path (`data.chain_id`, `items.0.id`), or `nil` when absent.
    public subscript(path path: String) -> JSONValue? {
        var current = self
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .object(let members):
                guard let next = members[String(component)] else { return nil }
                current = next
            case .array(let items):
                guard let index = Int(component), items.indices.contains(index) else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// A scalar rendered as text for matching (`"5"`, `"true"`); `nil` for arrays, objects and null.
    public var scalarText: String? {
        switch self {
        case .string(let string): return string
        case .bool(let bool): return bool ? "true" : "false"
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
            return String(number)
        case .null, .array, .object: return nil
        }
    }

    /// The string value, when this is a string.
    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }
}
