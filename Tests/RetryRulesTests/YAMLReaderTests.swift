import RetryTesting
import Testing

@testable import RetryCore
@testable import RetryRules

@Suite("YAML reader")
struct YAMLReaderTests {
    private func parseError(_ text: String) -> String? {
        do {
            _ = try YAMLValue.parse(text, file: "f.yaml")
            return nil
        } catch {
            return error.description
        }
    }

    @Test("syntax errors carry the file, line and column")
    func syntax() {
        let message = parseError("a: 1\nb: [1, 2\nc: 3")
        #expect(message?.hasPrefix("f.yaml:3:") == true || message?.hasPrefix("f.yaml:2:") == true)
        #expect(message?.contains("YAML syntax: ") == true)
    }

    @Test("a duplicate key points at the repeated key, not the first")
    func duplicateKey() {
        #expect(
            parseError("a: 1\nb:\n  c: 1\n  # note\n  c: 2\n")
                == "f.yaml:5:3: duplicate key 'c' in a mapping (first at line 3)")
        // In a flow mapping the repetition is on the same line; the first occurrence is named.
        #expect(parseError("a: {x: 1, x: 2}") == "f.yaml:1:5: duplicate key 'x' in a mapping (first at line 1)")
    }

    @Test("a control character is placed at its line and column")
    func controlCharacter() {
        #expect(parseError("a: 1\nb: x\u{7}y")?.hasPrefix("f.yaml:2:5: YAML reader: ") == true)
    }

    @Test(
        "reader and syntax errors are placed by the line breaks libyaml counts",
        arguments: ["\n", "\r\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"])
    func lineBreaks(_ lineBreak: String) {
        let reader = ["a: 1", "b: 2", "c: héllo\u{1}"].joined(separator: lineBreak)
        #expect(parseError(reader)?.hasPrefix("f.yaml:3:9: YAML reader: ") == true, "\(parseError(reader) ?? "")")
        // A syntax error is placed by libyaml's own marks; a reader error must agree with them.
        let syntax = ["a: 1", "b: 2", "c: [1"].joined(separator: lineBreak)
        let message = parseError(syntax) ?? ""
        #expect(message.hasPrefix("f.yaml:3:") || message.hasPrefix("f.yaml:4:"), "\(message)")
        // The tab hint finds the tab on the line libyaml names.
        let tab = ["a: 1", "b:", "\tc: 2"].joined(separator: lineBreak)
        #expect(parseError(tab)?.contains("(a tab; YAML indents with spaces only)") == true, "\(parseError(tab) ?? "")")
        // A repeated key is found on the line after the first, whatever the line break.
        let duplicate = ["a: 1", "b:", "  c: 1", "  c: 2"].joined(separator: lineBreak)
        #expect(parseError(duplicate) == "f.yaml:4:3: duplicate key 'c' in a mapping (first at line 3)")
    }

    @Test("empty text is no document; two documents are an error")
    func documents() throws {
        #expect(try YAMLValue.parse("", file: "f.yaml") == nil)
        #expect(try YAMLValue.parse("# only a comment\n", file: "f.yaml") == nil)
        #expect(parseError("a: 1\n---\nb: 2")?.hasPrefix("f.yaml:2:1: ") == true)
    }

    @Test("typed accessors report the node's location and kind")
    func accessors() throws {
        let log = DiagnosticLog()
        let root = try #require(
            try YAMLValue.parse("n: x\nb: yes\nd: 30\nl: [1]\ns: {a: 1}\nz: NULL\nok: 1h30m\n", file: "f.yaml"))
        let mapping = try #require(root.mapping(log, what: "root"))
        #expect(mapping.take("n")?.int(log, what: "n") == nil)
        #expect(mapping.take("b")?.bool(log, what: "b") == nil)
        #expect(mapping.take("d")?.duration(log, what: "d") == nil)
        #expect(mapping.take("l")?.string(log, what: "l") == nil)
        #expect(mapping.take("s")?.sequence(log, what: "s") == nil)
        #expect(mapping.take("z")?.isNull == true)
        #expect(mapping.take("ok")?.duration(log, what: "ok") == .seconds(5400))
        #expect(
            log.diagnostics.map(\.description) == [
                "f.yaml:1:4: n must be an integer",
                "f.yaml:2:4: b must be true or false",
                "f.yaml:3:4: d must be a duration such as 500ms, 30s, 10m or 24h",
                "f.yaml:4:4: l must be a string, not a list",
                "f.yaml:5:4: s must be a list, not a mapping",
            ])
    }

    @Test("unknown keys are reported with a suggestion when one is close")
    func unknownKeys() throws {
        let log = DiagnosticLog()
        let root = try #require(try YAMLValue.parse("listen: a\nlistne: b\nzzz: c\n", file: "f.yaml"))
        let mapping = try #require(root.mapping(log, what: "config"))
        _ = mapping.take("listen")
        _ = mapping.take("path")
        mapping.finish(log)
        #expect(
            log.diagnostics.map(\.description) == [
                "f.yaml:2:1: unknown key 'listne' in config (did you mean 'listen'?)",
                "f.yaml:3:1: unknown key 'zzz' in config",
            ])
        #expect(log.hasErrors)
    }

    @Test("warnings print with their severity")
    func warning() {
        let location = SourceLocation(file: "f.yaml", line: 2, column: 7)
        #expect(
            SourceDiagnostic("careful", at: location, severity: .warning).description == "f.yaml:2:7: warning: careful")
    }
}
