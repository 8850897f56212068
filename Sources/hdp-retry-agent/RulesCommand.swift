import ArgumentParser
import Foundation
import RetryAgent
import RetryCore
import RetryRules

/// `hdp-retry-agent rules check|test|explain|backtest`: the operator's tools for editing rules safely.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Validate, test, explain and backtest retry rules.",
        subcommands: [Check.self, Test.self, Explain.self, Backtest.self]
    )

    /// The rules path used when none is given.
    static let defaultPath = "./rules"

    /// The listener's body parser, with `webhook.fields` from `config` when one is given, so
    /// that `rules test` and `rules explain` read events exactly as the listener reads bodies.
    static func noticeParser(config: String?) throws -> NoticeParser {
        guard let config else { return NoticeParser() }
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(
                file: config, environment: ProcessInfo.processInfo.environment, flags: .init())
        } catch {
            print("\(config): configuration error:\n\(error.description)")
            throw ExitCode(2)
        }
        let fields = configuration.webhook.fields
        return NoticeParser(
            fields: NoticeParser.FieldPaths(
                taskID: fields["task_id"], status: fields["status"], error: fields["error"],
                timestamp: fields["timestamp"]))
    }

    /// `rules check [PATH…]`: every problem as `FILE:LINE:COLUMN: message`, then a summary line.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate rules files; exit 0 when valid (warnings allowed), 1 when not.")

        @Argument(help: "Rules files or folders (default: ./rules).")
        var paths: [String] = []

        func run() throws {
            var failed = false
            for path in paths.isEmpty ? [RulesCommand.defaultPath] : paths {
                do throws(RulesLoadError) {
                    let loaded = try RuleSetLoader.load(path: path)
                    loaded.warnings.forEach { print($0) }
                    let count = loaded.ruleSet.rules.count
                    print(
                        "\(path): valid, \(plural(count, "rule")) in \(plural(loaded.files.count, "file")), "
                            + plural(loaded.warnings.count, "warning"))
                } catch {
                    error.diagnostics.forEach { print($0) }
                    let errors = error.diagnostics.filter { $0.severity == .error }.count
                    print(
                        "\(path): invalid, \(plural(errors, "error")), "
                            + plural(error.diagnostics.count - errors, "warning"))
                    failed = true
                }
            }
            if failed { throw ExitCode(1) }
        }
    }

    /// `rules test [PATH…]`: runs `PATH/tests/*.yaml` against the rules at PATH.
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run rule test cases; exit 1 on any mismatch or when there are no cases.")

        @Argument(help: "Rules files or folders (default: ./rules); cases come from PATH/tests/.")
        var paths: [String] = []

        @Option(help: "YAML configuration file: events are read with its webhook.fields, as the listener reads bodies.")
        var config: String?

        func run() throws {
            let parser = try RulesCommand.noticeParser(config: config)
            var failed = false
            for path in paths.isEmpty ? [RulesCommand.defaultPath] : paths {
                failed = !runTests(at: path, parser: parser) || failed
            }
            if failed { throw ExitCode(1) }
        }

        private func runTests(at path: String, parser: NoticeParser) -> Bool {
            let ruleSet: RuleSet
            let cases: [RuleTestCase]
            let folder = RuleTestRunner.testsFolder(forRulesPath: path)
            do throws(RulesLoadError) {
                ruleSet = try RuleSetLoader.load(path: path).ruleSet
                cases = try RuleTestRunner.loadCases(folder: folder, parser: parser)
            } catch {
                error.diagnostics.forEach { print($0) }
                print("\(path): cannot run tests, the rules or the cases are invalid")
                return false
            }
            guard !cases.isEmpty else {
                print("\(path): no test cases in \(folder)/*.yaml")
                return false
            }
            let results = RuleTestRunner.run(cases, against: ruleSet)
            for result in results {
                if result.passed {
                    print("PASS \(result.testCase.name)")
                } else {
                    print("FAIL \(result.testCase.name) (\(result.testCase.location))")
                    print("     expected: \(result.expectedText)")
                    print("     actual:   \(result.actualText)")
                }
            }
            let failures = results.filter { !$0.passed }.count
            print("\(path): \(results.count - failures) passed, \(failures) failed")
            return failures == 0
        }
    }

    /// `rules explain --event FILE [--rules PATH]`: which rule decides and why the earlier ones did not.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which rule decides a webhook body and why each earlier rule did not match.")

        @Option(help: "A webhook JSON body (HDP callback or Standard Webhooks envelope); '-' reads stdin.")
        var event: String

        @Option(help: "Rules file or folder (default: ./rules, else the built-in HDP rules).")
        var rules: String?

        @Option(help: "YAML configuration file: the body is read with its webhook.fields, as the listener reads it.")
        var config: String?

        func run() throws {
            let parser = try RulesCommand.noticeParser(config: config)
            let source: RulesSource = rules.map(RulesSource.configured) ?? .defaultPath(RulesCommand.defaultPath)
            let loaded: LoadedRules
            do throws(RulesLoadError) {
                loaded = try source.load()
            } catch {
                error.diagnostics.forEach { print($0) }
                throw ExitCode(1)
            }
            if loaded.files.isEmpty { print("rules: \(source.path) does not exist; using the built-in HDP rules") }
            let body: Data?
            if event == "-" {
                body = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                body = FileManager.default.contents(atPath: event)
            }
            guard let body else {
                print("\(event): cannot read the file")
                throw ExitCode(1)
            }
            switch Self.ruleEvent(fromWebhookBody: body, parser: parser) {
            case .success(.failure(let notice)):
                print(loaded.ruleSet.explain(notice.ruleEvent).text)
            case .success(.notFailure(let notice)):
                print(
                    "status \(notice.status) is not a failure: the listener acknowledges the body as ignored "
                        + "(reason not_a_failure) without asking the rules")
            case .failure(let problem):
                print("\(event): \(problem.message) (the listener would answer 400)")
                throw ExitCode(1)
            }
        }

        /// Why a body could not be read as an event.
        struct BodyProblem: Error {
            var message: String
        }

        /// Reads a webhook body exactly as the listener does (the notice parser, with the
        /// configured `webhook.fields`), so `explain` and the daemon never disagree about what a
        /// body says.
        static func ruleEvent(
            fromWebhookBody body: Data, parser: NoticeParser = NoticeParser()
        ) -> Result<ParsedNotice, BodyProblem> {
            do {
                return .success(try parser.parse(Array(body)))
            } catch {
                return .failure(BodyProblem(message: error.description))
            }
        }
    }
}

/// `1 rule`, `2 rules`.
private func plural(_ count: Int, _ word: String) -> String {
    "\(count) \(word)\(count == 1 ? "" : "s")"
}
