import Foundation
import LinearRegex
import RetryCore

/// A rule set as loaded, with what the operator should know about it.
public struct LoadedRules: Sendable {
    /// The validated rule set, ready for a ``RuleStore``.
    public var ruleSet: RuleSet
    /// Problems that do not stop the set from working (an unreachable rule, a status typo).
    public var warnings: [SourceDiagnostic]
    /// The files read, in load order.
    public var files: [String]
}

/// Why a rule set could not be loaded. The diagnostics name each problem's file, line and column.
public struct RulesLoadError: Error, Sendable, CustomStringConvertible {
    private enum Reason: String, Sendable {
        case notFound = "not_found"
        case unreadable
        case invalid
    }

    private let kind: Reason
    /// Every problem found (errors and warnings), in file order.
    public let diagnostics: [SourceDiagnostic]

    /// A stable word for logs and metric labels: `not_found`, `unreadable` or `invalid`.
    public var reason: String { kind.rawValue }
    /// Whether the path does not exist at all (the daemon may then fall back to the built-in set).
    public var isNotFound: Bool { kind == .notFound }

    static func notFound(_ path: String) -> RulesLoadError {
        let location = SourceLocation(file: path, line: 1, column: 1)
        return RulesLoadError(kind: .notFound, diagnostics: [SourceDiagnostic("no such file or folder", at: location)])
    }

    static func unreadable(_ diagnostics: [SourceDiagnostic]) -> RulesLoadError {
        RulesLoadError(kind: .unreadable, diagnostics: diagnostics)
    }

    static func invalid(_ diagnostics: [SourceDiagnostic]) -> RulesLoadError {
        RulesLoadError(kind: .invalid, diagnostics: diagnostics)
    }

    /// One `FILE:LINE:COLUMN: message` per line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Loads rule sets from files and folders, strictly.
///
/// A path is a file, or a folder whose `*.yaml` and `*.yml` files (not its subfolders, so never
/// `tests/`; not hidden files such as editor swap files) are read in name order as one rule set:
/// their rules are concatenated in that order, each file's `defaults` apply to its own rules, and
/// exactly one file holds the top-level `default:`.
public enum RuleSetLoader {
    /// Loads the file or folder at `path`.
    public static func load(path: String) throws(RulesLoadError) -> LoadedRules {
        let files = try ruleFiles(at: path)
        var sources: [(file: String, text: String)] = []
        var problems: [SourceDiagnostic] = []
        for file in files {
            switch readText(file) {
            case .success(let text): sources.append((file, text))
            case .failure(let diagnostic): problems.append(diagnostic)
            }
        }
        guard problems.isEmpty else { throw .unreadable(problems) }
        return try load(sources: sources)
    }

    /// Loads one rules file's text; `file` names it in diagnostics.
    public static func load(yaml: String, file: String) throws(RulesLoadError) -> LoadedRules {
        try load(sources: [(file, yaml)])
    }

    /// Loads several files' texts, in order, as one rule set (what a folder load does after reading).
    public static func load(sources: [(file: String, text: String)]) throws(RulesLoadError) -> LoadedRules {
        let log = DiagnosticLog()
        var parsed: [ParsedRuleFile] = []
        for source in sources {
            if let file = RuleFileParser.parse(text: source.text, file: source.file, log: log) {
                parsed.append(file)
            }
        }
        let files = sources.map(\.file)
        let ruleSet = assemble(parsed, files: files, log: log)
        let diagnostics = sorted(log.diagnostics, files: files)
        guard let ruleSet, !log.hasErrors else { throw .invalid(diagnostics) }
        return LoadedRules(ruleSet: ruleSet, warnings: diagnostics.filter { $0.severity == .warning }, files: files)
    }

    /// Diagnostics in reading order: by file (load order), line, then column.
    static func sorted(_ diagnostics: [SourceDiagnostic], files: [String]) -> [SourceDiagnostic] {
        let rank = Dictionary(files.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return diagnostics.enumerated().sorted { left, right in
            let l = left.element.location
            let r = right.element.location
            let key = (rank[l.file] ?? Int.max, l.line, l.column, left.offset)
            return key < (rank[r.file] ?? Int.max, r.line, r.column, right.offset)
        }.map(\.element)
    }

    /// The files a load of `path` reads, in order; what the file watcher watches.
    public static func ruleFiles(at path: String) throws(RulesLoadError) -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw .notFound(path) }
        guard isFolder.boolValue else { return [path] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            let location = SourceLocation(file: path, line: 1, column: 1)
            throw .unreadable([SourceDiagnostic("cannot list the folder: \(error.localizedDescription)", at: location)])
        }
        let files = names.filter(isRuleFileName).sorted { Array($0.utf8).lexicographicallyPrecedes($1.utf8) }
            .map { join(path, $0) }
            .filter { candidate in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory)
                    && !isDirectory.boolValue
            }
        guard !files.isEmpty else {
            let location = SourceLocation(file: path, line: 1, column: 1)
            throw .invalid([SourceDiagnostic("the folder holds no rules files (*.yaml, *.yml)", at: location)])
        }
        return files
    }

    /// Whether a folder entry is read as rules: `*.yaml`/`*.yml`, not hidden.
    static func isRuleFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml"))
    }

    /// `folder/name`, without doubling a trailing slash.
    static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// The file's text, or a diagnostic saying why it cannot be read.
    static func readText(_ file: String) -> Result<String, SourceDiagnostic> {
        let location = SourceLocation(file: file, line: 1, column: 1)
        guard let data = FileManager.default.contents(atPath: file) else {
            return .failure(SourceDiagnostic("cannot read the file", at: location))
        }
        guard data.count <= RuleFileParser.maximumFileBytes else {
            return .failure(SourceDiagnostic("the file is larger than 1 MiB; is this the right path?", at: location))
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return .failure(SourceDiagnostic("the file is not UTF-8 text", at: location))
        }
        return .success(text)
    }

    /// Joins parsed files into one rule set, checking what spans files: unique names, exactly one
    /// `default:`, and rules made unreachable by an earlier rule that matches everything.
    static func assemble(_ parsed: [ParsedRuleFile], files: [String], log: DiagnosticLog) -> RuleSet? {
        var firstByName: [String: SourceLocation] = [:]
        var rules: [Rule] = []
        var catchAll: Rule?
        for file in parsed {
            for entry in file.entries {
                if let first = firstByName[entry.rule.name] {
                    log.error(
                        "duplicate rule name '\(entry.rule.name)' (first defined at \(first))", at: entry.nameLocation)
                    continue
                }
                firstByName[entry.rule.name] = entry.nameLocation
                if let catchAll {
                    log.warning(
                        "rule '\(entry.rule.name)' is unreachable: rule '\(catchAll.name)' (\(catchAll.location)) matches every event",
                        at: entry.rule.location)
                } else if entry.rule.condition.alwaysHolds {
                    catchAll = entry.rule
                }
                rules.append(entry.rule)
            }
        }
        let defaults = parsed.compactMap(\.defaultRule)
        for extra in defaults.dropFirst() {
            log.error(
                "second 'default:' (the first is at \(defaults[0].location)); a rule set has exactly one",
                at: extra.location)
        }
        guard let defaultRule = defaults.first else {
            if parsed.count == files.count, !parsed.contains(where: \.declaresDefault) {
                let at = SourceLocation(file: files.first ?? "rules", line: 1, column: 1)
                let message =
                    files.count > 1
                    ? "none of the \(files.count) files has a top-level 'default:'; exactly one must, e.g. default: {action: give_up}"
                    : "missing top-level 'default:', e.g. default: {action: give_up}"
                log.error(message, at: at)
            }
            return nil
        }
        return RuleSet(rules: rules, defaultRule: defaultRule, files: files)
    }
}
