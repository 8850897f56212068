import Foundation
import RetryCore
import RetryRules

/// `reconcile.*` (SPEC §7): how often and how far the agent pages HDP's task list for failures
/// whose webhook never arrived.
public struct ReconcileSettings: Sendable, Hashable {
    /// The largest page HDP serves (`hdp_tasks_per_page`).
    public static let maximumPerPage = 100
    /// The most pages a sweep may be configured to read.
    public static let maximumPages = 1000
    /// The shortest interval between sweeps, other than `0` (off).
    public static let minimumInterval = Duration.seconds(1)

    /// Time between sweeps (`reconcile.interval`); zero turns the periodic sweep off.
    public var interval: Duration = .seconds(300)
    /// Pages read at most in one sweep (`reconcile.max_pages`).
    public var maxPages = 20
    /// Tasks per page (`reconcile.per_page`, `hdp_tasks_per_page`), 1 to 100.
    public var perPage = 100
    /// `hdp_tasks_search` (`reconcile.search`); `nil` lists every task.
    public var search: String?
    /// Tasks last updated longer ago than this are left alone (`reconcile.lookback`).
    public var lookback: Duration = .seconds(86_400)
    /// Whether `lookback` was configured; the default gives way to a shorter `journal.retention`.
    public var lookbackIsExplicit = false
    /// Dotted paths for list shapes the built-in lookups do not read (`reconcile.fields.*`).
    public var fields = TaskListFields()

    public init() {}

    /// Whether sweeps run by themselves (`interval` is not zero).
    public var isPeriodic: Bool { interval > .zero }
}

extension AgentConfiguration {
    /// Reads the `reconcile` section strictly: unknown keys, wrong types and values out of range
    /// fail with the key and its line.
    func readReconcile(_ value: YAMLValue?, _ log: DiagnosticLog) -> ReconcileSettings {
        var settings = reconcile
        guard let value, let section = value.mapping(log, what: "reconcile") else { return settings }
        if let interval = section.take("interval") {
            // `0` (off) needs no unit: it is the same in every unit.
            if interval.scalarText == "0" {
                settings.interval = .zero
            } else if let duration = interval.duration(log, what: "reconcile.interval", allowZero: true) {
                if duration != .zero, duration < ReconcileSettings.minimumInterval {
                    log.error("reconcile.interval must be 0 (off) or at least 1s", at: interval.location)
                } else {
                    settings.interval = duration
                }
            }
        }
        if let pages = section.take("max_pages"), let count = pages.int(log, what: "reconcile.max_pages") {
            if (1...ReconcileSettings.maximumPages).contains(count) {
                settings.maxPages = count
            } else {
                log.error(
                    "reconcile.max_pages must be between 1 and \(ReconcileSettings.maximumPages)", at: pages.location)
            }
        }
        if let perPage = section.take("per_page"), let count = perPage.int(log, what: "reconcile.per_page") {
            if (1...ReconcileSettings.maximumPerPage).contains(count) {
                settings.perPage = count
            } else {
                log.error(
                    "reconcile.per_page must be between 1 and \(ReconcileSettings.maximumPerPage) (HDP's largest page)",
                    at: perPage.location)
            }
        }
        if let search = section.take("search"), !search.isNull,
            let text = search.string(log, what: "reconcile.search")
        {
            if text.isEmpty {
                log.error("reconcile.search must not be empty (null lists every task)", at: search.location)
            } else {
                settings.search = text
            }
        }
        if let lookback = section.take("lookback"),
            let duration = lookback.duration(log, what: "reconcile.lookback")
        {
            settings.lookback = duration
            settings.lookbackIsExplicit = true
        }
        if let value = section.take("fields"), let fields = value.mapping(log, what: "reconcile.fields") {
            func path(_ key: String) -> String? {
                guard let value = fields.take(key), let text = value.string(log, what: "reconcile.fields.\(key)")
                else { return nil }
                guard !text.isEmpty else {
                    log.error("reconcile.fields.\(key) must be a dotted path, not empty", at: value.location)
                    return nil
                }
                return text
            }
            settings.fields = TaskListFields(
                items: path("items"), taskID: path("task_id"), status: path("status"), error: path("error"),
                updatedAt: path("updated_at"))
            fields.finish(log)
        }
        section.finish(log)
        return settings
    }

    /// `reconcile` as the sweeps run it: the default lookback (24h) shortened to
    /// `journal.retention` when that is shorter (see ``reconcileProblems()``).
    public var effectiveReconcile: ReconcileSettings {
        var settings = reconcile
        if !settings.lookbackIsExplicit { settings.lookback = min(settings.lookback, journal.retention) }
        return settings
    }

    /// What is wrong with `reconcile` against the rest of the configuration.
    ///
    /// A configured lookback must not outlast `journal.retention`: compaction forgets an ended
    /// task after the retention, and a sweep that still looked at its failure would decide it
    /// again. (The default lookback gives way to a shorter retention instead.)
    func reconcileProblems() -> [String] {
        guard reconcile.lookbackIsExplicit, reconcile.lookback > journal.retention else { return [] }
        return [
            "reconcile.lookback (\(DurationText.format(reconcile.lookback))) must not exceed journal.retention "
                + "(\(DurationText.format(journal.retention))): the journal forgets ended tasks after the retention"
        ]
    }
}
