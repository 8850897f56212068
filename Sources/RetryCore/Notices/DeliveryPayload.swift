/// What a delivery record keeps of the notice's JSON body, so that the failure can be decided
/// again later: by `rules backtest` with a candidate rule set, and by the rules in force when a
/// status check brings a fresher status or error (``Decisions/afterStatus(of:entry:outcome:now:jitter:retryAfterCap:classify:)``).
///
/// Bounded, because every rule-decided delivery carries one and the journal is replayed at every
/// start: a body whose canonical JSON is at most ``maximumBytes`` is kept whole; a larger one is
/// cut down to the dotted paths the deciding rule set reads (``keptPaths``), as long as those fit
/// in the same bound, and says so. HDP's own callback is about 200 bytes.
///
/// The JSON is held as its canonical text (see ``JSONWriter/value(_:)``), not as a parsed tree:
/// the journal writes it as it is and replay copies it without parsing; ``value`` parses it when
/// a failure is actually decided again, which is rare.
public struct DeliveryPayload: Sendable, Hashable {
    /// The largest canonical JSON kept whole, in bytes; also the bound of a cut-down payload.
    public static let maximumBytes = 4096

    /// The payload's canonical JSON text.
    public let json: String
    /// `nil` when the payload is the whole body. Otherwise the body was larger than
    /// ``maximumBytes`` and this holds only these dotted paths, each exactly as in the body
    /// (absent when the body did not have it); the rest of the body is not known.
    public let keptPaths: [String]?

    /// A payload whose JSON is `json` as it stands: the canonical text of one JSON value (the
    /// journal's decoders check that before they call this).
    public init(canonicalJSON json: String, keptPaths: [String]?) {
        self.json = json
        self.keptPaths = keptPaths
    }

    /// The whole `value`, however large (for tests and tools; the agent uses ``bounded(_:keeping:limit:)``).
    public init(whole value: JSONValue) {
        self.init(canonicalJSON: String(decoding: JSONWriter.canonical(value), as: UTF8.self), keptPaths: nil)
    }

    /// Whether the body was larger than the bound and only ``keptPaths`` were kept.
    public var isTruncated: Bool { keptPaths != nil }

    /// The payload as a JSON value; `null` if the text does not parse (it always does when the
    /// journal's decoders made it).
    public var value: JSONValue {
        (try? JSONParser.parse(Array(json.utf8))) ?? .null
    }

    /// Whether a rule reading the dotted `path` sees here what it would have seen in the whole
    /// body: always for a whole payload; for a cut-down one, when `path` is one of the kept
    /// paths or lies inside one.
    public func knows(path: String) -> Bool {
        guard let keptPaths else { return true }
        return keptPaths.contains { kept in
            path == kept || path.utf8.starts(with: (kept + ".").utf8)
        }
    }

    /// The top-level members no rule can read from a payload: a condition on `status`, `error` or
    /// `task_id` reads the notice's normalised field (``RuleEvent``), never the body's member of
    /// that name.
    public static let normalisedMembers: Set<String> = ["error", "status", "task_id"]

    /// This payload as an open episode keeps it for a reclassification: without the top-level
    /// members no rule reads (``normalisedMembers``), which are most of HDP's own callback
    /// (`{"error","status","task_id","timestamp"}` keeps only `timestamp`). Every rule decides the
    /// same on it as on the whole payload. The journal's delivery record keeps the whole body.
    ///
    /// A scan of the canonical text, not a parse: replay does this for every episode it opens.
    public var forReclassification: DeliveryPayload {
        guard let kept = Self.removingMembers(Self.normalisedMembers, from: json) else { return self }
        return DeliveryPayload(canonicalJSON: kept, keptPaths: keptPaths)
    }

    /// `json` (canonical: no white space, strings escaped) without the top-level object members
    /// named in `names`; `nil` when it has none of them or is not an object.
    static func removingMembers(_ names: Set<String>, from json: String) -> String? {
        var json = json
        return json.withUTF8 { removingMembers(names, from: $0) }
    }

    private static func removingMembers(_ names: Set<String>, from bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), comma = UInt8(ascii: ",")
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "{") else { return nil }
        // Where each member starts and ends (its text, without the comma), and whether it stays.
        var members: [(range: Range<Int>, keep: Bool)] = []
        var index = 1
        func skipString() -> Bool {
            // At the opening quote; afterwards just past the closing one.
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case backslash: index += 2
                case quote:
                    index += 1
                    return true
                default: index += 1
                }
            }
            return false
        }
        while index < bytes.count, bytes[index] != UInt8(ascii: "}") {
            let start = index
            guard bytes[index] == quote, skipString() else { return nil }
            let name = String(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)]), as: UTF8.self)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            // The value: a string, a nested object or array, or a bare word or number.
            var depth = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == quote {
                    guard skipString() else { return nil }
                    if depth == 0 { break }
                    continue
                }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    depth += 1
                } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    if depth == 0 { break }
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        break
                    }
                } else if byte == comma, depth == 0 {
                    break
                }
                index += 1
            }
            members.append((start..<index, !names.contains(name)))
            if index < bytes.count, bytes[index] == comma { index += 1 }
        }
        guard index == bytes.count - 1, members.contains(where: { !$0.keep }) else { return nil }
        var kept: [UInt8] = [UInt8(ascii: "{")]
        kept.reserveCapacity(bytes.count)
        for member in members where member.keep {
            if kept.count > 1 { kept.append(comma) }
            kept.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[member.range]))
        }
        kept.append(UInt8(ascii: "}"))
        return String(decoding: kept, as: UTF8.self)
    }

    /// What a delivery record keeps of `payload`: the whole of it when its canonical JSON is at
    /// most `limit` bytes; otherwise only the dotted `paths` (the ones the rule set reads), in
    /// name order, each added while the result stays within `limit` (a path whose value would
    /// not fit is left out of ``keptPaths``, so a later decision knows it is missing).
    ///
    /// A path through an array keeps the array's shape up to the index it names, earlier items
    /// `null`: `items.2.id` keeps `{"items":[null,null,{"id":…}]}`.
    public static func bounded(
        _ payload: JSONValue, keeping paths: [String], limit: Int = maximumBytes
    )
        -> DeliveryPayload
    {
        let whole = JSONWriter.canonical(payload)
        if whole.count <= limit {
            return DeliveryPayload(canonicalJSON: String(decoding: whole, as: UTF8.self), keptPaths: nil)
        }
        var kept: [String] = []
        var subset: JSONValue = if case .array = payload { .array([]) } else { .object([:]) }
        var encoded = JSONWriter.canonical(subset)
        for path in Set(paths).sorted() {
            let components = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            var candidate = subset
            if payload[path: path] != nil {
                candidate.copy(components[...], from: payload)
            }
            let candidateBytes = JSONWriter.canonical(candidate)
            guard candidateBytes.count <= limit else { continue }
            subset = candidate
            encoded = candidateBytes
            kept.append(path)
        }
        return DeliveryPayload(canonicalJSON: String(decoding: encoded, as: UTF8.self), keptPaths: kept)
    }
}

extension JSONValue {
    /// Copies the value at `path` in `source` (which must have it) into this value, building the
    /// objects and arrays on the way as `source` has them.
    fileprivate mutating func copy(_ path: ArraySlice<String>, from source: JSONValue) {
        guard let component = path.first else {
            self = source
            return
        }
        switch source {
        case .object(let members):
            guard let next = members[component] else { return }
            var members: [String: JSONValue] = if case .object(let existing) = self { existing } else { [:] }
            var child = members[component] ?? .null
            child.copy(path.dropFirst(), from: next)
            members[component] = child
            self = .object(members)
        case .array(let items):
            guard let index = Int(component), items.indices.contains(index) else { return }
            var elements: [JSONValue] = if case .array(let existing) = self { existing } else { [] }
            while elements.count <= index { elements.append(.null) }
            elements[index].copy(path.dropFirst(), from: items[index])
            self = .array(elements)
        default:
            return
        }
    }
}
