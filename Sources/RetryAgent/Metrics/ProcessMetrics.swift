import Foundation
import Prometheus
import RetryCore
import Synchronization

/// The standard `process_*` metrics, read from `/proc/self` at scrape time (Linux).
final class ProcessMetrics: Sendable {
    private let residentMemory: Gauge
    private let cpuSeconds: Counter
    private let cpuReported = Mutex(0.0)
    private let openFDs: Gauge
    private let startTime: Gauge
    private let maxFDs: Gauge

    init(registry: PrometheusCollectorRegistry) {
        residentMemory = registry.makeGauge(
            descriptor: .named("process_resident_memory_bytes", help: "Resident memory size in bytes."))
        cpuSeconds = registry.makeCounter(
            descriptor: .named("process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds."))
        openFDs = registry.makeGauge(descriptor: .named("process_open_fds", help: "Number of open file descriptors."))
        maxFDs = registry.makeGauge(
            descriptor: .named("process_max_fds", help: "Maximum number of open file descriptors."))
        startTime = registry.makeGauge(
            descriptor: .named(
                "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds."))
        startTime.set(Self.startTimeSeconds() ?? Date().timeIntervalSince1970)
        update()
    }

    func update() {
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let fields = Self.statFields() {
            // Fields after the command: index 0 is state (field 3). utime 14, stime 15, rss 24.
            if fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
                let rss = Double(fields[21])
            {
                let total = (utime + stime) / ticks
                let delta = cpuReported.withLock { reported in
                    let delta = max(0, total - reported)
                    reported += delta
                    return delta
                }
                if delta > 0 { cpuSeconds.increment(by: delta) }
                residentMemory.set(rss * pageSize)
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFDs.set(Double(entries.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(Double(limit.rlim_cur)) }
    }

    /// `/proc/self/stat` fields after the parenthesised command name.
    private static func statFields() -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    private static func startTimeSeconds() -> Double? {
        guard let fields = statFields(), fields.count > 19, let startTicks = Double(fields[19]),
            let uptimeText = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
            let uptime = Double(uptimeText.split(separator: " ").first ?? "")
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let bootTime = Date().timeIntervalSince1970 - uptime
        return bootTime + startTicks / ticks
    }
}
