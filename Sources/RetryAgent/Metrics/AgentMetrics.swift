import Foundation
import Prometheus
import RetryCore
import RetryRules
import Synchronization

/// Every metric the agent exports, registered at start-up (counters at 0) so that dashboards and
/// alerts never see a missing series. Labels come only from small fixed sets (and rule names,
/// which operators define); never a task id.
///
/// The metrics are made on swift-prometheus' registry directly rather than through the
/// swift-metrics facade because only the registry carries `# HELP` text, which
/// `promtool check metrics` requires.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// How a webhook delivery ended: `hdp_retry_webhooks_total{outcome}`.
    public enum WebhookOutcome: String, Sendable, Hashable, CaseIterable {
        case accepted
        case duplicate
        case unauthorized
        case malformed
        case tooLarge = "too_large"
        case unsupportedMediaType = "unsupported_media_type"
        case unavailable
    }

    /// How a rules (re)load ended: `hdp_retry_rules_reloads_total{result}`.
    public enum ReloadResult: String, Sendable, Hashable, CaseIterable {
        case success
        case failure
    }

    private let webhooks: [WebhookOutcome: Counter]
    private let decisions: Mutex<[String: Counter]>
    private let calls: [CallResult: Counter]
    private let statusChecks: [StatusCheckResult: Counter]
    private let episodes: [EpisodeOutcome: Counter]
    private let circuitTransitions: [BreakerSnapshot.State: Counter]
    private let rulesReloads: [ReloadResult: Counter]
    private let listenerConnections: [Listener: Gauge]
    private let listenerClosed: [Listener: [ListenerCloseReason: Counter]]

    /// The agent's two listeners, for the `listener` label.
    public enum Listener: String, Sendable, Hashable, CaseIterable {
        case webhook
        case admin
    }
    let callDuration: DurationHistogram
    let pendingRetries: Gauge
    let inFlight: Gauge
    let oldestPending: Gauge
    let circuitState: Gauge
    let journalRecords: Counter
    let journalBytes: Gauge
    let journalFsync: DurationHistogram
    let journalCompactions: Counter
    let journalCompactionFailures: Counter
    let journalWriteErrors: Counter
    let journalTruncatedBytes: Counter
    let rulesLastReloadSuccessful: Gauge
    let rulesLoaded: Gauge
    /// `hdp_retry_reconcile_*`.
    public let reconcile: ReconcileMetrics
    private let process: ProcessMetrics

    public init(version: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func counters<Label: RawRepresentable & Hashable>(
            _ name: String, _ label: String, _ values: [Label], _ help: String
        ) -> [Label: Counter] where Label.RawValue == String {
            Dictionary(
                uniqueKeysWithValues: values.map {
                    ($0, registry.makeCounter(descriptor: .named(name, help: help), labels: [(label, $0.rawValue)]))
                })
        }
        webhooks = counters(
            "hdp_retry_webhooks_total", "outcome", WebhookOutcome.allCases, "Webhook deliveries by outcome.")
        decisions = Mutex([:])
        calls = counters("hdp_retry_calls_total", "result", CallResult.metricLabels, "Retry calls to HDP by result.")
        statusChecks = counters(
            "hdp_retry_status_checks_total", "result", StatusCheckResult.allCases,
            "Status checks before retries by result."
        )
        episodes = counters(
            "hdp_retry_episodes_total", "outcome", EpisodeOutcome.allCases, "Ended episodes by outcome.")
        circuitTransitions = counters(
            "hdp_retry_circuit_transitions_total", "to", BreakerSnapshot.State.allCases,
            "Circuit breaker transitions by new state."
        )
        rulesReloads = counters(
            "hdp_retry_rules_reloads_total", "result", ReloadResult.allCases, "Rule reloads by result.")
        listenerConnections = Dictionary(
            uniqueKeysWithValues: Listener.allCases.map { listener in
                (
                    listener,
                    registry.makeGauge(
                        descriptor: .named("hdp_retry_listener_connections", help: "Connections open on a listener."),
                        labels: [("listener", listener.rawValue)])
                )
            })
        listenerClosed = Dictionary(
            uniqueKeysWithValues: Listener.allCases.map { listener in
                (
                    listener,
                    Dictionary(
                        uniqueKeysWithValues: ListenerCloseReason.allCases.map { reason in
                            (
                                reason,
                                registry.makeCounter(
                                    descriptor: .named(
                                        "hdp_retry_listener_closed_connections_total",
                                        help:
                                            "Connections a listener closed on its own: a request not whole in time, or one connection too many."
                                    ), labels: [("listener", listener.rawValue), ("reason", reason.rawValue)])
                            )
                        })
                )
            })
        callDuration = registry.makeDurationHistogram(
            descriptor: .named(
                "hdp_retry_call_duration_seconds", help: "Duration of HDP API calls (status checks and retries)."),
            buckets: [
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
            ])
        pendingRetries = registry.makeGauge(
            descriptor: .named("hdp_retry_pending_retries", help: "Open episodes waiting for their retry."))
        inFlight = registry.makeGauge(
            descriptor: .named("hdp_retry_in_flight", help: "Retry attempts being processed now."))
        oldestPending = registry.makeGauge(
            descriptor: .named(
                "hdp_retry_oldest_pending_seconds",
                help: "How long the most overdue pending retry is past its due time."))
        circuitState = registry.makeGauge(
            descriptor: .named("hdp_retry_circuit_state", help: "Circuit breaker state: 0 closed, 1 open, 2 half-open.")
        )
        journalRecords = registry.makeCounter(
            descriptor: .named("hdp_retry_journal_records_total", help: "Records appended to the journal."))
        journalBytes = registry.makeGauge(
            descriptor: .named("hdp_retry_journal_bytes", help: "Current size of the journal file."))
        journalFsync = registry.makeDurationHistogram(
            descriptor: .named("hdp_retry_journal_fsync_seconds", help: "Duration of journal write+fsync batches."),
            buckets: [
                .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10),
                .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1),
            ])
        journalCompactions = registry.makeCounter(
            descriptor: .named("hdp_retry_journal_compactions_total", help: "Journal compactions."))
        journalCompactionFailures = registry.makeCounter(
            descriptor: .named(
                "hdp_retry_journal_compaction_failures_total",
                help: "Compactions given up because the snapshot could not be written (appends went on)."))
        journalWriteErrors = registry.makeCounter(
            descriptor: .named(
                "hdp_retry_journal_write_errors_total",
                help: "Journal writes and fsyncs that failed (deliveries answer 503 until one succeeds)."))
        journalTruncatedBytes = registry.makeCounter(
            descriptor: .named(
                "hdp_retry_journal_truncated_bytes_total", help: "Bytes of torn journal tails cut off at start."))
        rulesLastReloadSuccessful = registry.makeGauge(
            descriptor: .named(
                "hdp_retry_rules_last_reload_successful", help: "1 when the last rules (re)load succeeded."))
        rulesLoaded = registry.makeGauge(
            descriptor: .named("hdp_retry_rules_loaded", help: "Rules in the rule set in force."))
        let buildInfo = registry.makeGauge(
            descriptor: .named("hdp_retry_build_info", help: "Build information; the value is always 1."),
            labels: [("version", version)])
        buildInfo.set(1.0)
        reconcile = ReconcileMetrics(registry: registry)
        process = ProcessMetrics(registry: registry)
    }

    /// Registers `hdp_retry_decisions_total{action,rule}` at 0 for each rule of `ruleSet` and its
    /// default, so a rule that has not decided anything yet still has a series.
    public func registerDecisions(for ruleSet: RuleSet) {
        for rule in ruleSet.rules { _ = decisionCounter(action: rule.action.rawValue, rule: rule.name) }
        _ = decisionCounter(action: ruleSet.defaultRule.action.rawValue, rule: DefaultRule.name)
    }

    private func decisionCounter(action: String, rule: String) -> Counter {
        decisions.withLock { cache in
            let key = action + "\u{0}" + rule
            if let counter = cache[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: .named(
                    "hdp_retry_decisions_total", help: "Classification decisions by rule action and rule."),
                labels: [("action", action), ("rule", rule)])
            cache[key] = counter
            return counter
        }
    }

    public func webhook(_ outcome: WebhookOutcome) { webhooks[outcome]?.increment() }
    public func decision(action: RuleAction, rule: String) {
        decisionCounter(action: action.rawValue, rule: rule).increment()
    }
    public func call(_ result: CallResult) { calls[result]?.increment() }
    public func statusCheck(_ result: StatusCheckResult) { statusChecks[result]?.increment() }
    public func episode(_ outcome: EpisodeOutcome) { episodes[outcome]?.increment() }
    public func circuitTransition(to state: BreakerSnapshot.State) {
        circuitTransitions[state]?.increment()
        circuitState.set(state.gaugeValue)
    }
    /// A gauge of `listener`'s open connections and counters of what it closed, for its limits.
    public func listenerGauge(_ listener: Listener) -> ListenerGauge {
        let open = listenerConnections[listener]
        let closed = listenerClosed[listener] ?? [:]
        return ListenerGauge(onClose: { closed[$0]?.increment() }, onOpenChange: { open?.set(Double($0)) })
    }

    public func rulesReload(success: Bool, loaded: Int?) {
        rulesReloads[success ? .success : .failure]?.increment()
        rulesLastReloadSuccessful.set(success ? 1.0 : 0.0)
        if let loaded { rulesLoaded.set(Double(loaded)) }
    }

    /// The exposition text (format 0.0.4), with process metrics read fresh.
    public func exposition() -> [UInt8] {
        process.update()
        return registry.emitToBuffer()
    }
}

extension MetricNameDescriptor {
    /// A descriptor for a metric whose full name (unit suffix included) is written out, so that
    /// every name the SPEC pins reads exactly as it is exported.
    static func named(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
