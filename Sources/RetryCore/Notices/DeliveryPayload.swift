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
    public static let normalisedMembers: [String] = ["error", "status", "task_id"]

    /// This payload as an open episode keeps it for a reclassification: without the top-level
    /// members no rule reads (``normalisedMembers``), which are most of HDP's own callback
    /// (`{"error","status","task_id","timestamp"}` keeps only `timestamp`). Every rule decides the
    /// same on it as on the whole payload. The journal's delivery record keeps the whole body.
    ///
    /// A scan of the canonical text, not a parse, that allocates only the result: replay does
    /// this for every episode it opens.
    public var forReclassification: DeliveryPayload {
        guard let kept = Self.withoutNormalisedMembers(json) else { return self }
        return DeliveryPayload(canonicalJSON: kept, keptPaths: keptPaths)
    }

    /// `json` (canonical: no white space, strings escaped) without its top-level `error`,
    /// `status` and `task_id` members; `nil` when it has none of them or is not an object.
    static func withoutNormalisedMembers(_ json: String) -> String? {
        var json = json
        return json.withUTF8 { bytes -> String? in
            guard bytes.count >= 2 else { return nil }
            // One scan, copying the kept members into scratch space; then one exact-size string.
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bytes.count) { scratch -> String? in
                var scan = MemberScan(bytes)
                var written = 1
                var dropped = false
                scratch[0] = UInt8(ascii: "{")
                while let member = scan.next() {
                    if member.isNormalised {
                        dropped = true
                        continue
                    }
                    if written > 1 {
                        scratch[written] = UInt8(ascii: ",")
                        written += 1
                    }
                    UnsafeMutableBufferPointer(rebasing: scratch[written..<(written + member.range.count)])
                        .update(fromContentsOf: UnsafeBufferPointer(rebasing: bytes[member.range]))
                    written += member.range.count
                }
                guard scan.isComplete, dropped else { return nil }
                scratch[written] = UInt8(ascii: "}")
                return String(decoding: UnsafeBufferPointer(rebasing: scratch[..<(written + 1)]), as: UTF8.self)
            }
        }
    }

    /// The top-level members of a canonical JSON object, one after the other.
    private struct MemberScan {
        struct Member {
            /// The member's text, `"name":value`.
            var range: Range<Int>
            var isNormalised: Bool
        }

        let bytes: UnsafeBufferPointer<UInt8>
        var index = 1
        /// Set when the text is not an object as the scan expects.
        var failed: Bool

        init(_ bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            failed = bytes.count < 2 || bytes[0] != UInt8(ascii: "{") || bytes[bytes.count - 1] != UInt8(ascii: "}")
        }

        /// Whether every member was read and the text scanned as an object.
        var isComplete: Bool { !failed && index == bytes.count - 1 }

        mutating func next() -> Member? {
            guard !failed, index < bytes.count - 1 else { return nil }
            let start = index
            guard bytes[index] == Self.quote, skipString() else { return fail() }
            let name = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)])
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return fail() }
            index += 1
            guard skipValue() else { return fail() }
            let member = Member(range: start..<index, isNormalised: Self.isNormalised(name))
            if index < bytes.count - 1 {
                guard bytes[index] == UInt8(ascii: ",") else { return fail() }
                index += 1
            }
            return member
        }

        private mutating func fail() -> Member? {
            failed = true
            return nil
        }

        private static let quote = UInt8(ascii: "\"")

        private static func isNormalised(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
            switch name.count {
            case 5: name.elementsEqual("error".utf8)
            case 6: name.elementsEqual("status".utf8)
            case 7: name.elementsEqual("task_id".utf8)
            default: false
            }
        }

        /// At an opening quote; afterwards just past the closing one.
        private mutating func skipString() -> Bool {
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"): index += 2
                case Self.quote:
                    index += 1
                    return true
                default: index += 1
                }
            }
            return false
        }

        /// At a value; afterwards just past it.
        private mutating func skipValue() -> Bool {
            var depth = 0
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case Self.quote:
                    guard skipString() else { return false }
                    if depth == 0 { return true }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    index += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { return true }  // the end of the enclosing object
                    depth -= 1
                    index += 1
                    if depth == 0 { return true }
                case UInt8(ascii: ","):
                    if depth == 0 { return true }
                    index += 1
                default:
                    index += 1
                }
            }
            return depth == 0
        }
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
