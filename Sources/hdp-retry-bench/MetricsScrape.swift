import Foundation

/// One scrape of a Prometheus text exposition (`GET /metrics`), read as plain samples.
struct MetricsScrape: Sendable {
    /// Samples in the order scraped.
    var samples: [(name: String, labels: String, value: Double)] = []

    /// Parses the text format: `name{labels} value` lines; comments and blank lines skipped.
    init(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[1]) else { continue }
            let series = parts[0]
            if let brace = series.firstIndex(of: "{") {
                samples.append((String(series[..<brace]), String(series[brace...]), value))
            } else {
                samples.append((String(series), "", value))
            }
        }
    }

    /// Scrapes `GET /metrics` from `port` on 127.0.0.1.
    static func fetch(port: Int) throws -> MetricsScrape {
        let connection = LoopbackConnection(port: port)
        defer { connection.close() }
        let response = try connection.exchange(DeliveryFactory.get(path: "/metrics", port: port), keepBody: true)
        guard response.status == 200 else { throw BenchmarkError("GET /metrics answered \(response.status)") }
        return MetricsScrape(text: String(decoding: response.body, as: UTF8.self))
    }

    /// The sum of the samples named `name` whose labels include every `key="value"` in `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in
            sample.name == name && labels.allSatisfy { sample.labels.contains("\($0.key)=\"\($0.value)\"") }
        }.reduce(0) { $0 + $1.value }
    }

    /// Deliveries by `outcome` label of `hdp_retry_webhooks_total`.
    var webhookOutcomes: [String: Double] {
        var outcomes = [String: Double]()
        for sample in samples where sample.name == "hdp_retry_webhooks_total" {
            guard let range = sample.labels.range(of: "outcome=\"") else { continue }
            let rest = sample.labels[range.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { continue }
            outcomes[String(rest[..<end]), default: 0] += sample.value
        }
        return outcomes
    }
}
