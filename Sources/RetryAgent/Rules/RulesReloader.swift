import AsyncAlgorithms
import Logging
import NIOPosix
import RetryCore
import RetryRules
import ServiceLifecycle
import UnixSignals

/// The outcome of one reload attempt, for the admin endpoint, logs and metrics.
public struct RulesReloadResult: Sendable, Hashable {
    /// What asked for the reload.
    public enum Trigger: String, Sendable, Hashable {
        /// SIGHUP.
        case signal
        /// An explicit call, e.g. `POST /-/reload`.
        case request
        /// The file watcher saw the rule files change.
        case watch
    }

    /// What asked for this reload.
    public var trigger: Trigger
    /// Whether the new rules are now in force. When `false` the last good rules stay.
    public var succeeded: Bool
    /// The number of rules in force after the attempt.
    public var ruleCount: Int
    /// The files of the rules in force after the attempt (empty for the built-in set).
    public var files: [String]
    /// On failure every problem found; on success the warnings.
    public var diagnostics: [SourceDiagnostic]
    /// On failure a stable word (`not_found`, `unreadable`, `invalid`); `nil` on success.
    public var failureReason: String?
}

/// Reloads the rules on SIGHUP, on request and (when watching) when the files change, keeping the
/// last good rule set whenever the new one does not load.
///
/// Watching polls the sizes, modification times and inode numbers of the rule files and the
/// folder's list of rule files every `pollInterval` (1 s by default). A change is acted on once it
/// has been stable for one more poll, so an editor that writes a file in several steps causes one
/// reload of the finished file rather than a rejected half-written one. A content that failed to
/// load is not retried until the files change again.
///
/// Reloads are serialised by the actor, so the set in force is always the one read last.
public actor RulesReloader: Service {
    private let source: RulesSource
    private let store: RuleStore
    private let watch: Bool
    private let pollInterval: Duration
    private let logger: Logger
    private let onReload: @Sendable (RulesReloadResult) -> Void
    private var lastFingerprint: RulesFingerprint
    private var pendingFingerprint: RulesFingerprint?
    /// Counts reloads begun; a reload puts its rules in force only if no later one began meanwhile.
    private var generation = 0

    /// Creates the reloader for rules already loaded from `source` into `store`.
    ///
    /// - Parameter onReload: called after every attempt, e.g. to count reloads in metrics.
    public init(
        source: RulesSource, store: RuleStore, watch: Bool, pollInterval: Duration = .seconds(1),
        logger: Logger, onReload: @escaping @Sendable (RulesReloadResult) -> Void = { _ in }
    ) {
        self.source = source
        self.store = store
        self.watch = watch
        self.pollInterval = pollInterval
        self.logger = logger
        self.onReload = onReload
        self.lastFingerprint = RulesFingerprint(path: source.path)
    }

    /// Listens for SIGHUP and, when watching, polls the files, until graceful shutdown.
    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let watch = self.watch
        let interval = self.pollInterval
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in signals.cancelOnGracefulShutdown() {
                    _ = await self.reload(trigger: .signal)
                }
            }
            if watch {
                group.addTask {
                    let ticks = AsyncTimerSequence(interval: interval, clock: .continuous)
                    for await _ in ticks.cancelOnGracefulShutdown() {
                        _ = await self.poll()
                    }
                }
            }
        }
    }

    /// Loads the rules again and puts them in force if they are valid; otherwise keeps the
    /// rules in force and reports why.
    ///
    /// The files are read and compiled on the blocking-work thread pool. Reloads that overlap put
    /// the rules of the one begun last in force.
    public func reload(trigger: RulesReloadResult.Trigger = .request) async -> RulesReloadResult {
        let fingerprint = RulesFingerprint(path: source.path)
        lastFingerprint = fingerprint
        pendingFingerprint = nil
        generation += 1
        let mine = generation
        let outcome = await source.loadOffThePool()
        let result: RulesReloadResult
        do throws(RulesLoadError) {
            let loaded = try outcome.get()
            if mine == generation { store.replace(with: loaded.ruleSet) }
            result = RulesReloadResult(
                trigger: trigger, succeeded: true, ruleCount: loaded.ruleSet.rules.count, files: loaded.files,
                diagnostics: loaded.warnings, failureReason: nil)
            log(success: result)
        } catch {
            let current = store.current
            result = RulesReloadResult(
                trigger: trigger, succeeded: false, ruleCount: current.rules.count, files: current.files,
                diagnostics: error.diagnostics, failureReason: error.reason)
            log(failure: result)
        }
        onReload(result)
        return result
    }

    /// One watch step: reloads when the files changed and have stayed the same since the last poll.
    /// Returns the reload's result, or `nil` when nothing was reloaded.
    public func poll() async -> RulesReloadResult? {
        let now = RulesFingerprint(path: source.path)
        guard now != lastFingerprint else {
            pendingFingerprint = nil
            return nil
        }
        guard now == pendingFingerprint else {
            pendingFingerprint = now
            return nil
        }
        return await reload(trigger: .watch)
    }

    private func log(success result: RulesReloadResult) {
        logger.info(
            "rules reloaded",
            metadata: [
                "rules_trigger": "\(result.trigger.rawValue)", "rules_count": "\(result.ruleCount)",
                "rules_files": "\(result.files.isEmpty ? "built-in" : result.files.joined(separator: ","))",
            ])
        for diagnostic in result.diagnostics {
            logger.warning("rules warning", metadata: ["rules_diagnostic": "\(diagnostic)"])
        }
    }

    private func log(failure result: RulesReloadResult) {
        logger.error(
            "rules reload rejected, keeping the last good rules",
            metadata: [
                "rules_trigger": "\(result.trigger.rawValue)", "rules_path": "\(source.path)",
                "rules_reason": "\(result.failureReason ?? "")", "rules_count": "\(result.ruleCount)",
            ])
        for diagnostic in result.diagnostics {
            let level: Logger.Level = diagnostic.severity == .error ? .error : .warning
            logger.log(level: level, "rules problem", metadata: ["rules_diagnostic": "\(diagnostic)"])
        }
    }
}

extension RulesSource {
    /// ``load()`` on the blocking-work thread pool, never on the cooperative pool the listeners
    /// run on (it reads files and compiles every regular expression).
    public func loadOffThePool() async -> Result<LoadedRules, RulesLoadError> {
        let load = { @Sendable () -> Result<LoadedRules, RulesLoadError> in
            Result { () throws(RulesLoadError) in try self.load() }
        }
        return (try? await NIOThreadPool.singleton.runIfActive(load)) ?? load()
    }
}
