import LinearRegex
import RetryCore
import Yams

/// A position in a YAML file: 1-based line and column, as editors count them.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `FILE:LINE:COLUMN`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem found while reading a YAML file, printed as `FILE:LINE:COLUMN: message`.
public struct SourceDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var location: SourceLocation
    public var message: String
    public var severity: Severity

    public init(_ message: String, at location: SourceLocation, severity: Severity = .error) {
        self.location = location
        self.message = message
        self.severity = severity
    }

    /// `FILE:LINE:COLUMN: message`, with `warning: ` before the message for warnings.
    public var description: String {
        switch severity {
        case .error: "\(location): \(message)"
        case .warning: "\(location): warning: \(message)"
        }
    }
}

/// Collects the diagnostics of one read so that every problem is reported, not only the first.
public final class DiagnosticLog {
    public private(set) var diagnostics: [SourceDiagnostic] = []

    public init() {}

    public func error(_ message: String, at location: SourceLocation) {
        diagnostics.append(SourceDiagnostic(message, at: location))
    }

    public func warning(_ message: String, at location: SourceLocation) {
        diagnostics.append(SourceDiagnostic(message, at: location, severity: .warning))
    }

    public var errors: [SourceDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [SourceDiagnostic] { diagnostics.filter { $0.severity == .warning } }
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// A YAML node with its file, read strictly: every accessor reports a wrong type to the log with
/// the node's line and column and returns `nil`.
public struct YAMLValue {
    public let node: Node
    public let file: String

    public init(node: Node, file: String) {
        self.node = node
        self.file = file
    }

    /// Parses `text`; a syntax error becomes a diagnostic at the offending position.
    /// An empty document yields `nil`.
    public static func parse(_ text: String, file: String) throws(SourceDiagnostic) -> YAMLValue? {
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            return YAMLValue(node: node, file: file)
        } catch let error as YamlError {
            throw Self.diagnostic(for: error, file: file)
        } catch {
            throw SourceDiagnostic("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    private static func diagnostic(for error: YamlError, file: String) -> SourceDiagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, let yaml),
            .parser(let context, let problem, let mark, let yaml),
            .composer(let context, let problem, let mark, let yaml):
            let prefix = context.map { "\($0.text) " } ?? ""
            var message = "YAML syntax: \(prefix)\(problem)"
            if Self.character(in: yaml, line: mark.line, column: mark.column) == "\t" {
                message += " (a tab; YAML indents with spaces only)"
            }
            return SourceDiagnostic(message, at: SourceLocation(file: file, line: mark.line, column: mark.column))
        case .reader(let problem, let offset, _, let yaml):
            let (line, column) = offset.map { Self.lineAndColumn(in: yaml, characterOffset: $0) } ?? (1, 1)
            return SourceDiagnostic(
                "YAML reader: \(problem)", at: SourceLocation(file: file, line: line, column: column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams reports where the first occurrence is; point at the repeated one, which is the
            // line the operator just added, when it can be found.
            let key = duplicates.first ?? ""
            let first = SourceLocation(file: file, line: context.mark.line, column: context.mark.column)
            let repeated = Self.repeatedKey(key, after: context.mark, in: context.text)
            let location = repeated.map { SourceLocation(file: file, line: $0.line, column: $0.column) } ?? first
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return SourceDiagnostic("duplicate key \(keys) in a mapping (first at line \(first.line))", at: location)
        default:
            return SourceDiagnostic("YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    /// The character at a 1-based line and column (columns count Unicode scalars, as libyaml does).
    private static func character(in text: String, line: Int, column: Int) -> Unicode.Scalar? {
        let lines = yamlLines(Substring(text))
        guard line >= 1, line <= lines.count else { return nil }
        let scalars = lines[line - 1]
        guard column >= 1, column <= scalars.count else { return nil }
        return scalars[column - 1]
    }

    /// The 1-based line and column of a character offset (Yams gives reader errors as one).
    private static func lineAndColumn(in text: String, characterOffset: Int) -> (Int, Int) {
        let end = text.index(text.startIndex, offsetBy: max(characterOffset, 0), limitedBy: text.endIndex)
        let lines = yamlLines(text[..<(end ?? text.endIndex)])
        return (lines.count, (lines.last?.count ?? 0) + 1)
    }

    /// The lines of `text` as libyaml counts them, each as its Unicode scalars: broken at LF, CR,
    /// CRLF, NEL, LS and PS, so that every location agrees with the scanner's and parser's marks.
    static func yamlLines(_ text: Substring) -> [[Unicode.Scalar]] {
        var lines: [[Unicode.Scalar]] = [[]]
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            defer { previous = scalar }
            switch scalar {
            case "\n" where previous == "\r":
                continue
            case "\n", "\r", "\u{85}", "\u{2028}", "\u{2029}":
                lines.append([])
            default:
                lines[lines.count - 1].append(scalar)
            }
        }
        return lines
    }

    /// The next line of the same block mapping as `mark` that holds `key` at the same column.
    private static func repeatedKey(_ key: String, after mark: Mark, in text: String) -> (line: Int, column: Int)? {
        let lines = yamlLines(Substring(text)).map { String(String.UnicodeScalarView($0)) }
        guard mark.line >= 1, mark.line <= lines.count, !key.isEmpty else { return nil }
        for index in mark.line..<lines.count {
            let line = lines[index]
            let indent = line.unicodeScalars.prefix { $0 == " " }.count
            let content = Substring(line.unicodeScalars.dropFirst(indent))
            if content.isEmpty || content.hasPrefix("#") { continue }
            if indent < mark.column - 1 { return nil }
            guard indent == mark.column - 1 else { continue }
            for spelling in [key, "\"\(key)\"", "'\(key)'"] where content.hasPrefix(spelling) {
                if content.dropFirst(spelling.count).drop(while: { $0 == " " }).hasPrefix(":") {
                    return (index + 1, mark.column)
                }
            }
        }
        return nil
    }

    /// Where the node starts.
    public var location: SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    /// A short word for the node's kind, for messages: `a mapping`, `a list`, `a string`.
    public var kindDescription: String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar:
            if isNull {
                "null"
            } else {
                "a scalar"
            }
        }
    }

    /// Whether the node is YAML null (`null`, `Null`, `NULL`, `~` or empty, unquoted).
    public var isNull: Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain {
            return Self.nullWords.contains(scalar.string)
        }
        return false
    }

    private static let nullWords: Set<String> = ["null", "Null", "NULL", "~", ""]

    /// The mapping's entries, keys as strings, in file order; reports anything else.
    public func mapping(_ log: DiagnosticLog, what: String) -> YAMLMapping? {
        guard case .mapping(let mapping) = node else {
            log.error("\(what) must be a mapping, not \(kindDescription)", at: location)
            return nil
        }
        var entries: [(key: String, keyLocation: SourceLocation, value: YAMLValue)] = []
        var seen: Set<String> = []
        for (key, value) in mapping {
            let keyValue = YAMLValue(node: key, file: file)
            guard case .scalar(let scalar) = key else {
                log.error("keys of \(what) must be strings", at: keyValue.location)
                continue
            }
            if !seen.insert(scalar.string).inserted {
                log.error("duplicate key '\(scalar.string)' in \(what)", at: keyValue.location)
                continue
            }
            entries.append((scalar.string, keyValue.location, YAMLValue(node: value, file: file)))
        }
        return YAMLMapping(entries: entries, location: location, what: what)
    }

    /// The list's items; reports anything else.
    public func sequence(_ log: DiagnosticLog, what: String) -> [YAMLValue]? {
        guard case .sequence(let sequence) = node else {
            log.error("\(what) must be a list, not \(kindDescription)", at: location)
            return nil
        }
        return sequence.map { YAMLValue(node: $0, file: file) }
    }

    /// The scalar's text, when the node is a scalar (not null); `nil` otherwise, without a report.
    public var scalarText: String? {
        if case .scalar(let scalar) = node, !isNull { return scalar.string }
        return nil
    }

    /// A string scalar; reports anything else.
    public func string(_ log: DiagnosticLog, what: String) -> String? {
        guard let text = scalarText else {
            log.error("\(what) must be a string, not \(kindDescription)", at: location)
            return nil
        }
        return text
    }

    /// An integer scalar; reports anything else.
    public func int(_ log: DiagnosticLog, what: String) -> Int? {
        guard let text = scalarText, let value = Int(text) else {
            log.error("\(what) must be an integer", at: location)
            return nil
        }
        return value
    }

    /// A number scalar; reports anything else.
    public func double(_ log: DiagnosticLog, what: String) -> Double? {
        guard let text = scalarText, let value = Double(text), value.isFinite else {
            log.error("\(what) must be a number", at: location)
            return nil
        }
        return value
    }

    /// `true` or `false`; reports anything else.
    public func bool(_ log: DiagnosticLog, what: String) -> Bool? {
        switch scalarText {
        case "true": return true
        case "false": return false
        default:
            log.error("\(what) must be true or false", at: location)
            return nil
        }
    }

    /// One of `cases`, spelled as its raw value; reports anything else with the spellings.
    public func oneOf<Value: RawRepresentable & CaseIterable>(
        _: Value.Type, _ log: DiagnosticLog, what: String
    ) -> Value? where Value.RawValue == String {
        guard let text = string(log, what: what) else { return nil }
        if let value = Value(rawValue: text) { return value }
        log.error("\(what) must be \(Value.spellings)", at: location)
        return nil
    }

    /// A duration such as `500ms`, `30s`, `10m`, `24h`, positive (or zero, when `allowZero`) and
    /// at most ``DurationText/maximum``; reports anything else.
    public func duration(_ log: DiagnosticLog, what: String, allowZero: Bool = false) -> Duration? {
        guard let text = scalarText else {
            log.error("\(what) must be a duration such as 500ms, 30s, 10m or 24h", at: location)
            return nil
        }
        switch DurationText.read(text) {
        case .failure(.notADuration):
            log.error("\(what) must be a duration such as 500ms, 30s, 10m or 24h", at: location)
            return nil
        case .failure(.tooLong):
            log.error("\(what) must be at most 87600h (10 years)", at: location)
            return nil
        case .success(let value):
            guard value > .zero || (allowZero && value == .zero) else {
                log.error("\(what) must be longer than zero", at: location)
                return nil
            }
            return value
        }
    }
}

/// A mapping read key by key; ``finish(_:)`` reports every key nobody asked for.
public final class YAMLMapping {
    public let entries: [(key: String, keyLocation: SourceLocation, value: YAMLValue)]
    public let location: SourceLocation
    public let what: String
    private var taken: Set<String> = []

    init(
        entries: [(key: String, keyLocation: SourceLocation, value: YAMLValue)], location: SourceLocation, what: String
    ) {
        self.entries = entries
        self.location = location
        self.what = what
    }

    /// The value of `key`, marking it as known; `nil` when absent.
    public func take(_ key: String) -> YAMLValue? {
        taken.insert(key)
        return entries.first { $0.key == key }?.value
    }

    /// The location of `key` itself, for messages about the key.
    public func keyLocation(_ key: String) -> SourceLocation? {
        entries.first { $0.key == key }?.keyLocation
    }

    /// Reports each key that was never taken as unknown, with a suggestion when one is close.
    public func finish(_ log: DiagnosticLog) {
        for entry in entries where !taken.contains(entry.key) {
            var message = "unknown key '\(entry.key)' in \(what)"
            if let suggestion = Typo.suggestion(for: entry.key, among: taken) {
                message += " (did you mean '\(suggestion)'?)"
            }
            log.error(message, at: entry.keyLocation)
        }
    }
}

extension CaseIterable where Self: RawRepresentable, Self.RawValue == String {
    /// The raw values in a sentence: `a, b or c`.
    public static var spellings: String {
        let words = allCases.map(\.rawValue)
        guard words.count > 1 else { return words.first ?? "" }
        return words.dropLast().joined(separator: ", ") + " or " + words[words.count - 1]
    }
}
