import Prometheus

/// The reconciliation sweep's metrics (SPEC §7), registered with the others at start-up.
public struct ReconcileMetrics: Sendable {
    /// How a sweep ended: `hdp_retry_reconcile_sweeps_total{result}`.
    public enum Result: String, Sendable, Hashable, CaseIterable {
        /// Paged to the last page (or `reconcile.max_pages`) without a failed list call.
        case ok
        /// A list call failed, its page could not be read, or the journal refused a delivery.
        case failed
        /// Did not run, or stopped early, because the breaker held HDP calls back (or the agent
        /// was stopping).
        case skipped
    }

    private let sweeps: [Result: Counter]
    /// `hdp_retry_reconcile_found_total`: missed failures a sweep sent down the delivery path.
    let found: Counter
    /// `hdp_retry_reconcile_list_calls_total`: pages of `GET /tasks` asked for.
    let listCalls: Counter
    /// `hdp_retry_reconcile_last_success_timestamp_seconds`: when the last `ok` sweep started (0
    /// until one has).
    let lastSuccess: Gauge
    /// `hdp_retry_reconcile_interval_seconds`: `reconcile.interval` (0 when sweeps are off), for
    /// the alert on sweeps that stopped succeeding.
    let interval: Gauge

    init(registry: PrometheusCollectorRegistry) {
        sweeps = Dictionary(
            uniqueKeysWithValues: Result.allCases.map {
                (
                    $0,
                    registry.makeCounter(
                        descriptor: .named(
                            "hdp_retry_reconcile_sweeps_total",
                            help: "Reconciliation sweeps of HDP's task list by result."),
                        labels: [("result", $0.rawValue)])
                )
            })
        found = registry.makeCounter(
            descriptor: .named(
                "hdp_retry_reconcile_found_total",
                help: "Failed tasks whose webhook never arrived, found by reconciliation sweeps."))
        listCalls = registry.makeCounter(
            descriptor: .named(
                "hdp_retry_reconcile_list_calls_total", help: "Pages of HDP's task list asked for by sweeps."))
        lastSuccess = registry.makeGauge(
            descriptor: .named(
                "hdp_retry_reconcile_last_success_timestamp_seconds",
                help: "Unix time the last successful reconciliation sweep started; 0 before the first."))
        interval = registry.makeGauge(
            descriptor: .named(
                "hdp_retry_reconcile_interval_seconds", help: "Configured time between sweeps; 0 when they are off."))
    }

    /// Counts a sweep that ended with `result`.
    public func sweep(_ result: Result) { sweeps[result]?.increment() }
}
