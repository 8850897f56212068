import Foundation
import Logging
import RetryTesting
import Synchronization
import Testing

@testable import RetryAgent
@testable import RetryCore
@testable import RetryJournal
@testable import RetryRules
@testable import WebhookAuth

@Suite("Rule reloading")
struct RuleReloadTests {
    /// A rule set whose every decision carries `marker`: rules `marker-1…3` and a catch-all
    /// `marker-all`, with `max_attempts` distinct per set, so a decision mixing two sets is visible.
    static func yaml(marker: String, attempts: Int) -> String {
        """
        version: 1
        defaults: {max_attempts: \(attempts)}
        rules:
          - {name: \(marker)-1, action: retry, match: {status: DryRunFailed}}
          - {name: \(marker)-2, action: give_up, match: {error: {contains: missing}}}
          - {name: \(marker)-3, action: ignore, match: {status: TraceGenFailed}}
          - {name: \(marker)-all, action: retry}
        default: {action: give_up}
        """
    }

    final class Recorder: Sendable {
        let results = Mutex<[RulesReloadResult]>([])
        func record(_ result: RulesReloadResult) { results.withLock { $0.append(result) } }
    }

    private func reloader(_ path: String, _ store: RuleStore, _ recorder: Recorder) -> RulesReloader {
        RulesReloader(
            source: .configured(path), store: store, watch: false,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            onReload: recorder.record)
    }

    @Test("a bad file keeps the last good set; a good one replaces it")
    func keepsLastGood() async throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("rules.yaml", Self.yaml(marker: "a", attempts: 1))
        let store = RuleStore(try RuleSetLoader.load(path: file).ruleSet)
        let original = store.current
        let recorder = Recorder()
        let reloader = reloader(file, store, recorder)

        try folder.write("rules.yaml", "version: 1\nrules:\n  - {name: x, action: retyr}\ndefault: {action: give_up}")
        let bad = await reloader.reload()
        #expect(!bad.succeeded)
        #expect(bad.failureReason == "invalid")
        #expect(bad.ruleCount == 4)
        #expect(bad.diagnostics.map(\.location.line) == [3])
        #expect(store.current === original)

        try folder.write("rules.yaml", Self.yaml(marker: "b", attempts: 2))
        let good = await reloader.reload(trigger: .signal)
        #expect(good.succeeded)
        #expect(good.trigger == .signal)
        #expect(store.current !== original)
        #expect(store.current.rules.map(\.name).allSatisfy { $0.hasPrefix("b-") })
        #expect(recorder.results.withLock { $0.map(\.succeeded) } == [false, true])
    }

    /// Before, a duration of 2562048h or more trapped while the reload compiled the rules: the
    /// agent died, and crash-looped on restart because the file was still there.
    @Test("a rules file with an impossible duration is refused on reload; the agent keeps going")
    func impossibleDurationOnReload() async throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("rules.yaml", Self.yaml(marker: "a", attempts: 1))
        let store = RuleStore(try RuleSetLoader.load(path: file).ruleSet)
        let original = store.current
        let reloader = reloader(file, store, Recorder())
        try folder.write(
            "rules.yaml",
            "version: 1\nrules:\n  - {name: x, action: retry, backoff: {initial: 9999999999h}}\ndefault: {action: give_up}"
        )
        let result = await reloader.reload()
        #expect(!result.succeeded)
        #expect(
            result.diagnostics.map(\.description) == [
                "\(file):3:49: backoff initial must be at most 87600h (10 years)"
            ])
        #expect(store.current === original)
    }

    @Test("the watcher reloads a change once it is stable for one poll, and not again")
    func watch() async throws {
        let folder = try TemporaryFolder()
        try folder.write("10.yaml", Self.yaml(marker: "a", attempts: 1))
        let store = RuleStore(try RuleSetLoader.load(path: folder.path).ruleSet)
        let reloader = reloader(folder.path, store, Recorder())
        #expect(await reloader.poll() == nil)

        try folder.write("10.yaml", Self.yaml(marker: "bb", attempts: 2))
        #expect(await reloader.poll() == nil)
        let result = await reloader.poll()
        #expect(result?.succeeded == true)
        #expect(result?.trigger == .watch)
        #expect(store.current.rules.first?.name == "bb-1")
        #expect(await reloader.poll() == nil)

        // A new file in the folder is a change too; a broken one is rejected once, not every poll.
        try folder.write("20.yaml", "version: 1\nrules: [")
        #expect(await reloader.poll() == nil)
        #expect(await reloader.poll()?.succeeded == false)
        #expect(await reloader.poll() == nil)
        #expect(store.current.rules.first?.name == "bb-1")
    }

    @Test("reloads racing thousands of classifications never yield a decision from a mixed set")
    func race() async throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("rules.yaml", Self.yaml(marker: "a", attempts: 1))
        let setA = try RuleSetLoader.load(yaml: Self.yaml(marker: "a", attempts: 1), file: "a").ruleSet
        let setB = try RuleSetLoader.load(yaml: Self.yaml(marker: "b", attempts: 2), file: "b").ruleSet
        let store = RuleStore(setA)
        let reloader = reloader(file, store, Recorder())
        let events = [
            notice(status: "DryRunFailed", error: nil).ruleEvent,
            notice(status: "AtlanticProvingFailed", error: "results missing").ruleEvent,
            notice(status: "TraceGenFailed", error: "x").ruleEvent,
            notice(status: "ChainProofsFetchFailed", error: "timeout").ruleEvent,
        ]
        let mixed = await withTaskGroup(of: Int.self) { group in
            group.addTask {
                for round in 0..<200 {
                    let marker = round.isMultiple(of: 2) ? "b" : "a"
                    _ = try? folder.write("rules.yaml", Self.yaml(marker: marker, attempts: marker == "a" ? 1 : 2))
                    _ = await reloader.reload()
                    store.replace(with: round.isMultiple(of: 2) ? setA : setB)
                }
                return 0
            }
            for reader in 0..<4 {
                group.addTask {
                    var mixed = 0
                    for index in 0..<5000 {
                        let event = events[(index + reader) % events.count]
                        let decision = store.classify(event)
                        let inA = decision == setA.classify(event)
                        let inB = decision == setB.classify(event)
                        if !(inA || inB) { mixed += 1 }
                    }
                    return mixed
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mixed == 0)
        // The writer's last swap (round 199) left set B in force.
        #expect(store.classify(events[0]) == setB.classify(events[0]))
        #expect(store.classify(events[0]) != setA.classify(events[0]))
    }
}
