import Foundation

extension IngestBenchmark {
    /// The scale-out rows (orders 20–25): see ``ScaleOutBenchmark``.
    mutating func measureScaleOut(
        postgres: String, wrk: String, factory: inout DeliveryFactory, directory: String
    ) throws {
        let simulator = URL(fileURLWithPath: agent).deletingLastPathComponent().appendingPathComponent("hdp-sim").path
        guard FileManager.default.isExecutableFile(atPath: simulator) else {
            throw BenchmarkError(
                "no hdp-sim next to the agent (\(simulator)): swift build -c release --product hdp-sim "
                    + "(with the same --scratch-path)")
        }
        let benchmark = ScaleOutBenchmark(
            agent: agent, simulator: simulator, postgres: postgres, seconds: seconds, connections: connections,
            deliveries: deliveries, tasks: scaleOutTasks, directory: directory, wrk: wrk)
        let figures = try benchmark.run(factory: &factory)
        measured.scaleOut = figures
        for (index, figure) in figures.enumerated() {
            rows.append(
                IngestRow(
                    order: 20 + index, path: "durable ingest → 202, \(figure.title)",
                    result: Self.perSecond(figure.ingest), flagged: figure.ingestFlagged, note: figure.ingestNote))
            rows.append(
                IngestRow(
                    order: 30 + index,
                    path: "retries (status check + retry call, both records committed), \(figure.title)",
                    result: Self.perSecond(figure.retries), flagged: figure.retriesFlagged, note: figure.retriesNote))
        }
        notes.append(
            "scale-out rows: wrk with 1 thread and \(max(1, connections / 3))–\(connections) connections per agent, all "
                + "agents loaded at once; PostgreSQL \(postgres.contains("@") ? "at " + (postgres.split(separator: "@").last.map(String.init) ?? "") : "") "
                + "on the same 2 CPUs as the agents and the load; \(scaleOutTasks) tasks for the retry rows")
    }

    /// `3 agents on PostgreSQL ≥ 1× the file journal agent`, for ingest and for retries.
    func scaleOutTargetLines() -> [String] {
        let figures = measured.scaleOut
        guard figures.count == 3 else { return [] }
        let file = figures[0]
        let three = figures[2]
        let one = figures[1]
        func verdict(_ ok: Bool) -> String { ok ? "✓" : "✗" }
        return [
            String(
                format:
                    "- ingest: PostgreSQL 3 agents / file journal 1 agent = %.2f× (target ≥ 1×) %@; 1 agent on PostgreSQL = %.2f×",
                three.ingest / max(file.ingest, 1e-9), verdict(three.ingest >= file.ingest),
                one.ingest / max(file.ingest, 1e-9)),
            String(
                format:
                    "- retries: PostgreSQL 3 agents / file journal 1 agent = %.2f× (target ≥ 1×) %@; 1 agent on PostgreSQL = %.2f×",
                three.retries / max(file.retries, 1e-9), verdict(three.retries >= file.retries),
                one.retries / max(file.retries, 1e-9)),
        ]
    }
}
