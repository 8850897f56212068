import Foundation
import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

@Suite("Rule folders")
struct RuleFolderTests {
    static let first = """
        version: 1
        defaults: {max_attempts: 7}
        rules:
          - {name: a1, action: retry, match: {status: DryRunFailed}}
          - {name: a2, action: retry, match: {status: TraceGenFailed}}
        """
    static let second = """
        version: 1
        defaults: {max_attempts: 2, backoff: {initial: 5s}}
        rules:
          - {name: b1, action: retry, match: {status: DryRunFailed}}
          - {name: b2, action: ignore, match: {status: AtlanticProvingFailed}}
        default: {action: give_up}
        """

    @Test("files load in name order as one set; each file's defaults apply to its rules; tests/ is ignored")
    func order() throws {
        let folder = try TemporaryFolder()
        try folder.write("10-second.yaml", Self.second)
        try folder.write("02-first.yml", Self.first)
        try folder.write("tests/cases.yaml", "this: [is not a rules file")
        try folder.write(".10-second.yaml.swp", "garbage: [")
        try folder.write("README.md", "# notes")
        let loaded = try RuleSetLoader.load(path: folder.path)
        #expect(loaded.files == [folder.path + "/02-first.yml", folder.path + "/10-second.yaml"])
        #expect(loaded.ruleSet.rules.map(\.name) == ["a1", "a2", "b1", "b2"])
        #expect(loaded.ruleSet.rules.map(\.maxAttempts) == [7, 7, 2, 2])
        #expect(loaded.ruleSet.rules[2].backoff.initial == .seconds(5))
        #expect(loaded.ruleSet.rules[0].backoff == .standard)
        let dryRun = loaded.ruleSet.classify(RuleFixtures.event(status: "DryRunFailed", error: nil))
        #expect(dryRun.rule == "a1")
        let unknown = loaded.ruleSet.classify(RuleFixtures.event(status: "Other", error: nil))
        #expect(
            unknown
                == Classification(
                    rule: "default", action: .giveUp, maxAttempts: 2, backoff: loaded.ruleSet.rules[2].backoff))
        #expect(loaded.ruleSet.defaultRule.location.description == folder.path + "/10-second.yaml:6:1")
    }

    @Test("a folder needs exactly one default, and names are unique across files")
    func acrossFiles() throws {
        let folder = try TemporaryFolder()
        try folder.write("a.yaml", Self.second)
        try folder.write("b.yaml", Self.second)
        let a = folder.path + "/a.yaml"
        let b = folder.path + "/b.yaml"
        #expect(
            diagnostics(folder.path) == [
                "\(b):4:12: duplicate rule name 'b1' (first defined at \(a):4:12)",
                "\(b):5:12: duplicate rule name 'b2' (first defined at \(a):5:12)",
                "\(b):6:1: second 'default:' (the first is at \(a):6:1); a rule set has exactly one",
            ])
        let none = try TemporaryFolder()
        try none.write("a.yaml", Self.first)
        try none.write("b.yaml", "version: 1\n")
        #expect(
            diagnostics(none.path) == [
                "\(none.path)/a.yaml:1:1: none of the 2 files has a top-level 'default:'; exactly one must, e.g. default: {action: give_up}"
            ])
    }

    @Test("a missing path, an empty folder and a non-UTF-8 file are reported")
    func unreadable() throws {
        let folder = try TemporaryFolder()
        do {
            _ = try RuleSetLoader.load(path: folder.path + "/nope")
            Issue.record("a missing path must not load")
        } catch {
            #expect(error.isNotFound)
            #expect(error.reason == "not_found")
            #expect(error.description == "\(folder.path)/nope:1:1: no such file or folder")
        }
        #expect(diagnostics(folder.path) == ["\(folder.path):1:1: the folder holds no rules files (*.yaml, *.yml)"])
        let file = folder.path + "/bad.yaml"
        try Data([0x76, 0xFF, 0xFE]).write(to: URL(fileURLWithPath: file))
        #expect(diagnostics(folder.path) == ["\(file):1:1: the file is not UTF-8 text"])
    }

    @Test("the default path falls back to the built-in rules; a configured path does not")
    func fallback() throws {
        let folder = try TemporaryFolder()
        let missing = folder.path + "/rules"
        let loaded = try RulesSource.defaultPath(missing).load()
        #expect(loaded.files.isEmpty)
        #expect(loaded.ruleSet === RuleSet.builtIn)
        #expect(throws: RulesLoadError.self) { try RulesSource.configured(missing).load() }
    }

    private func diagnostics(_ path: String) -> [String] {
        do {
            return try RuleSetLoader.load(path: path).warnings.map(\.description)
        } catch {
            return error.diagnostics.map(\.description)
        }
    }
}
