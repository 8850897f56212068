import RetryCore

/// `task-id`: task-id parsing (`TaskID(utf8:)` and `TaskID(_:)`).
///
/// Properties:
/// - the bytes are accepted exactly when SPEC §2 says so, judged by a plain reference check (26
///   Crockford base32 characters, first `0`–`7`, no `I` `L` `O` `U`, either case; or 8-4-4-4-12
///   hexadecimal), with no trimming;
/// - both initialisers agree;
/// - an accepted id's canonical spelling is the input in upper case (ULID) or lower case (UUID),
///   and parses back to the same id;
/// - order and equality follow the canonical spelling (`<` is the spelling's order, `==` its
///   equality) against a fixed set of ids of both kinds;
/// - a rejected string gets a reason (`TaskID.problem(with:)`), without crashing.
enum TaskIDTarget {
    static let target = FuzzTarget(
        name: "task-id",
        summary: "task id: ULID and UUID parsing, canonical spelling, order",
        maximumLength: 64,
        run: run)

    /// Ids of both kinds at both ends of their ranges, to compare against.
    static let landmarks: [TaskID] = [
        "00000000000000000000000000", "01JPJ03YJT1A93D6NF56G4GVEQ", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "00000000-0000-0000-0000-000000000000", "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ].compactMap(TaskID.init)

    static func run(_ bytes: UnsafeRawBufferPointer) throws(PropertyViolation) {
        try require(landmarks.count == 6, "a landmark id does not parse")
        let id = TaskID(utf8: bytes)
        let expected = reference(bytes)
        try require(
            (id != nil) == (expected != nil),
            "\(shown(Array(bytes))): TaskID says \(id.map(\.rawValue) ?? "invalid"), SPEC says \(expected ?? "invalid")"
        )

        if let text = String(validating: bytes, as: UTF8.self) {
            try require(TaskID(text) == id, "TaskID(String) and TaskID(utf8:) disagree on \(shown(text))")
            if id == nil { _ = TaskID.problem(with: text) }
        }
        guard let id, let expected else { return }

        let spelling = id.rawValue
        try require(spelling == expected, "canonical spelling \(spelling), expected \(expected)")
        try require(TaskID(spelling) == id, "\(spelling) does not parse back to the same id")
        try require(id.description == spelling, "description differs from rawValue")
        for other in landmarks {
            try require(
                (id < other) == (spelling < other.rawValue) && (other < id) == (other.rawValue < spelling),
                "order of \(spelling) and \(other) differs from their spelling's")
            try require(
                (id == other) == (spelling == other.rawValue) && (id != other || id.hashValue == other.hashValue),
                "equality of \(spelling) and \(other) differs from their spelling's")
        }
    }

    /// The canonical spelling SPEC §2 gives `bytes`, or `nil` when they are not a task id.
    static func reference(_ bytes: UnsafeRawBufferPointer) -> String? {
        let text = Array(bytes)
        if text.count == 26 {
            let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
            let upper = text.map { (97...122).contains($0) ? $0 - 32 : $0 }
            guard upper.allSatisfy(crockford.contains), (48...55).contains(upper[0]) else { return nil }
            return String(decoding: upper, as: UTF8.self)
        }
        if text.count == 36 {
            let hex = Array("0123456789abcdef".utf8)
            let lower = text.map { (65...90).contains($0) ? $0 + 32 : $0 }
            for (index, byte) in lower.enumerated() {
                let isHyphen = [8, 13, 18, 23].contains(index)
                guard isHyphen ? byte == UInt8(ascii: "-") : hex.contains(byte) else { return nil }
            }
            return String(decoding: lower, as: UTF8.self)
        }
        return nil
    }
}
