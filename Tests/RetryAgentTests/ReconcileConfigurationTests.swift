import Foundation
import RetryTesting
import Testing

@testable import RetryAgent
@testable import RetryCore

/// `reconcile.*`: defaults, every key, and refusals with the key and its line.
@Suite("Reconcile configuration")
struct ReconcileConfigurationTests {
    @Test func defaults() throws {
        let settings = try ConfigurationTests.load(nil).reconcile
        #expect(settings.interval == .seconds(300) && settings.isPeriodic)
        #expect(settings.maxPages == 20 && settings.perPage == 100 && settings.search == nil)
        #expect(settings.lookback == .seconds(86_400))
        #expect(settings.fields == TaskListFields())
    }

    @Test func everyKey() throws {
        let settings = try ConfigurationTests.load(
            """
            reconcile:
              interval: 90s
              max_pages: 5
              per_page: 50
              search: Failed
              lookback: 6h
              fields: {items: result.rows, task_id: ref.id, status: state, error: failure.text, updated_at: changed}
            """
        ).reconcile
        #expect(settings.interval == .seconds(90))
        #expect(settings.maxPages == 5 && settings.perPage == 50 && settings.search == "Failed")
        #expect(settings.lookback == .seconds(6 * 3600))
        #expect(
            settings.fields
                == TaskListFields(
                    items: "result.rows", taskID: "ref.id", status: "state", error: "failure.text", updatedAt: "changed"
                ))
    }

    @Test("0 turns the periodic sweep off, with or without a unit", arguments: ["0", "0s", "0ms"])
    func zeroIsOff(text: String) throws {
        let settings = try ConfigurationTests.load("reconcile: {interval: \(text), search: null}").reconcile
        #expect(settings.interval == .zero && !settings.isPeriodic)
        #expect(settings.search == nil)
    }

    @Test(
        "values out of range and unknown keys are refused with their line",
        arguments: [
            (
                "reconcile:\n  per_page: 101",
                "agent.yaml:2:13: reconcile.per_page must be between 1 and 100 (HDP's largest page)"
            ),
            ("reconcile:\n  max_pages: 0", "agent.yaml:2:14: reconcile.max_pages must be between 1 and 1000"),
            ("reconcile:\n  interval: 500ms", "agent.yaml:2:13: reconcile.interval must be 0 (off) or at least 1s"),
            (
                "reconcile:\n  interval: 5",
                "agent.yaml:2:13: reconcile.interval must be a duration such as 500ms, 30s, 10m or 24h"
            ),
            ("reconcile:\n  lookback: 0s", "agent.yaml:2:13: reconcile.lookback must be longer than zero"),
            ("reconcile:\n  search: ''", "agent.yaml:2:11: reconcile.search must not be empty (null lists every task)"),
            (
                "reconcile:\n  intervall: 5m",
                "agent.yaml:2:3: unknown key 'intervall' in reconcile (did you mean 'interval'?)"
            ),
            ("reconcile:\n  fields: {task: id}", "agent.yaml:2:12: unknown key 'task' in reconcile.fields"),
            (
                "reconcile:\n  fields: {status: ''}",
                "agent.yaml:2:20: reconcile.fields.status must be a dotted path, not empty"
            ),
        ])
    func refusals(yaml: String, message: String) throws {
        let error = try ConfigurationTests.error(yaml)
        #expect(error.hasPrefix(message), "\(error)")
    }

    @Test("the lookback may not outlast the journal's retention")
    func lookbackWithinRetention() throws {
        let error = try ConfigurationTests.error("journal: {retention: 12h}\nreconcile: {lookback: 24h}")
        #expect(error.contains("reconcile.lookback (24h) must not exceed journal.retention (12h)"))
        #expect(
            try ConfigurationTests.load("journal: {retention: 12h}\nreconcile: {lookback: 12h}").reconcile.lookback
                == .seconds(12 * 3600))
        // The default gives way to a shorter retention.
        let short = try ConfigurationTests.load("journal: {retention: 90m}")
        #expect(short.reconcile.lookback == .seconds(86_400))
        #expect(short.effectiveReconcile.lookback == .seconds(5400))
        #expect(try ConfigurationTests.load(nil).effectiveReconcile.lookback == .seconds(86_400))
    }
}
