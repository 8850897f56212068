import Foundation
import Logging
import RetryCore
import RetryJournal
import RetryRules
import WebhookAuth

extension AgentConfiguration {
    /// Applies a YAML configuration file strictly: an unknown key, a wrong type or a bad duration
    /// fails with the key and its line.
    mutating func apply(yaml text: String, file: String) throws(ConfigurationError) {
        let root: YAMLValue?
        do {
            root = try YAMLValue.parse(text, file: file)
        } catch {
            throw ConfigurationError([error.description])
        }
        guard let root else { return }
        let log = DiagnosticLog()
        if let top = root.mapping(log, what: "the configuration") {
            read(top, log)
            top.finish(log)
        }
        if log.hasErrors { throw ConfigurationError(log.errors.map(\.description)) }
    }

    private mutating func read(_ top: YAMLMapping, _ log: DiagnosticLog) {
        if let value = top.take("listen")?.string(log, what: "listen") { listen = value }
        if let value = top.take("admin_listen")?.string(log, what: "admin_listen") { adminListen = value }
        if let value = top.take("dry_run")?.bool(log, what: "dry_run") { dryRun = value }
        if let section = top.take("hdp")?.mapping(log, what: "hdp") {
            if let value = section.take("base_url")?.string(log, what: "hdp.base_url") { hdp.baseURL = value }
            if let value = section.take("api_key_file"), !value.isNull {
                hdp.apiKeyFile = value.string(log, what: "hdp.api_key_file")
            }
            if let value = section.take("timeout")?.duration(log, what: "hdp.timeout") { hdp.timeout = value }
            if let value = section.take("confirm_status")?.bool(log, what: "hdp.confirm_status") {
                hdp.confirmStatus = value
            }
            if let key = section.take("api_key"), let location = section.keyLocation("api_key") {
                _ = key
                log.error(
                    "hdp.api_key must not be in the configuration file; use HDP_API_KEY or hdp.api_key_file",
                    at: location)
            }
            section.finish(log)
        }
        if let section = top.take("webhook")?.mapping(log, what: "webhook") {
            if let value = section.take("path")?.string(log, what: "webhook.path") { webhook.path = value }
            if let value = section.take("max_body_bytes")?.int(log, what: "webhook.max_body_bytes") {
                if value < 256 || value > 16_777_216 {
                    log.error(
                        "webhook.max_body_bytes must be between 256 and 16777216",
                        at: section.keyLocation("max_body_bytes")!)
                } else {
                    webhook.maxBodyBytes = value
                }
            }
            if let value = section.take("max_connections")?.int(log, what: "webhook.max_connections", in: 1...1_000_000)
            {
                webhook.limits.maxConnections = value
            }
            if let value = section.take("request_timeout")?.duration(log, what: "webhook.request_timeout") {
                webhook.limits.requestTimeout = value
            }
            if let value = section.take("max_header_bytes")?.int(
                log, what: "webhook.max_header_bytes", in: 1024...1_048_576)
            {
                webhook.limits.maxHeaderBytes = value
            }
            if let item = section.take("dedup_window"),
                let value = item.duration(log, what: "webhook.dedup_window")
            {
                webhook.dedupWindow = value
                locations["webhook.dedup_window"] = item.location
            }
            if let signature = section.take("signature")?.mapping(log, what: "webhook.signature") {
                if let value = signature.take("scheme")?.oneOf(
                    SignatureScheme.self, log, what: "webhook.signature.scheme")
                {
                    webhook.scheme = value
                }
                if let value = signature.take("header")?.string(log, what: "webhook.signature.header") {
                    webhook.header = value
                }
                if let value = signature.take("timestamp_header"), !value.isNull {
                    webhook.timestampHeader = value.string(log, what: "webhook.signature.timestamp_header")
                }
                if let item = signature.take("tolerance"),
                    let value = item.duration(log, what: "webhook.signature.tolerance")
                {
                    webhook.tolerance = value
                    locations["webhook.signature.tolerance"] = item.location
                }
                if let value = signature.take("secrets_file"), !value.isNull {
                    webhook.secretsFile = value.string(log, what: "webhook.signature.secrets_file")
                }
                signature.finish(log)
            }
            if let fields = section.take("fields")?.mapping(log, what: "webhook.fields") {
                for name in ["task_id", "status", "error", "timestamp"] {
                    if let value = fields.take(name)?.string(log, what: "webhook.fields.\(name)") {
                        webhook.fields[name] = value
                    }
                }
                fields.finish(log)
            }
            section.finish(log)
        }
        if let section = top.take("rules")?.mapping(log, what: "rules") {
            if let value = section.take("path")?.string(log, what: "rules.path") {
                rules.path = value
                rules.pathIsExplicit = true
            }
            if let value = section.take("watch")?.bool(log, what: "rules.watch") { rules.watch = value }
            section.finish(log)
        }
        if let section = top.take("journal")?.mapping(log, what: "journal") {
            if let value = section.take("path")?.string(log, what: "journal.path") { journal.path = value }
            if let value = section.take("fsync")?.oneOf(FsyncPolicy.self, log, what: "journal.fsync") {
                journal.fsync = value
            }
            if let value = section.take("compact_above_bytes")?.int(
                log, what: "journal.compact_above_bytes", in: 4096...(1 << 40))
            {
                journal.compactAboveBytes = Int64(value)
            }
            if let value = section.take("retention")?.duration(log, what: "journal.retention") {
                journal.retention = value
            }
            section.finish(log)
        }
        if let section = top.take("dispatch")?.mapping(log, what: "dispatch") {
            if let value = section.take("max_in_flight")?.int(log, what: "dispatch.max_in_flight", in: 1...1024) {
                dispatch.maxInFlight = value
            }
            if let value = section.take("rate_per_second")?.double(
                log, what: "dispatch.rate_per_second", in: 0...10_000, lowerOpen: true)
            {
                dispatch.ratePerSecond = value
            }
            if let value = section.take("burst")?.int(log, what: "dispatch.burst", in: 1...10_000) {
                dispatch.burst = value
            }
            if let value = section.take("retry_after_cap")?.duration(log, what: "dispatch.retry_after_cap") {
                retryAfterCap = value
            }
            section.finish(log)
        }
        if let section = top.take("circuit_breaker")?.mapping(log, what: "circuit_breaker") {
            if let value = section.take("window")?.int(log, what: "circuit_breaker.window", in: 1...10_000) {
                circuitBreaker.window = value
            }
            if let value = section.take("min_calls")?.int(log, what: "circuit_breaker.min_calls", in: 1...10_000) {
                circuitBreaker.minCalls = value
            }
            if let value = section.take("failure_rate")?.double(
                log, what: "circuit_breaker.failure_rate", in: 0...1, lowerOpen: true)
            {
                circuitBreaker.failureRate = value
            }
            if let value = section.take("consecutive_failures")?.int(
                log, what: "circuit_breaker.consecutive_failures", in: 1...10_000)
            {
                circuitBreaker.consecutiveFailures = value
            }
            if let value = section.take("open_for")?.duration(log, what: "circuit_breaker.open_for") {
                circuitBreaker.openFor = value
            }
            if let value = section.take("max_open_for")?.duration(log, what: "circuit_breaker.max_open_for") {
                circuitBreaker.maxOpenFor = value
            }
            if let value = section.take("half_open_probes")?.int(
                log, what: "circuit_breaker.half_open_probes", in: 1...1024)
            {
                circuitBreaker.halfOpenProbes = value
            }
            section.finish(log)
        }
        if let section = top.take("log")?.mapping(log, what: "log") {
            if let value = section.take("format")?.oneOf(LogFormat.self, log, what: "log.format") {
                self.log.format = value
            }
            if let value = section.take("level")?.oneOf(Logger.Level.self, log, what: "log.level") {
                self.log.level = value
            }
            section.finish(log)
        }
        reconcile = readReconcile(top.take("reconcile"), log)
        store = readStore(top.take("store"), log)
        if let section = top.take("admin")?.mapping(log, what: "admin") {
            if let value = section.take("token_file"), !value.isNull {
                admin.tokenFile = value.string(log, what: "admin.token_file")
            }
            section.finish(log)
        }
    }
}

extension YAMLValue {
    /// An integer in `range`; reports anything else with the range.
    func int(_ log: DiagnosticLog, what: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = int(log, what: what) else { return nil }
        guard range.contains(value) else {
            log.error("\(what) must be between \(range.lowerBound) and \(range.upperBound), not \(value)", at: location)
            return nil
        }
        return value
    }

    /// A number in `range` (above, not at, its lower bound when `lowerOpen`); reports anything else.
    func double(_ log: DiagnosticLog, what: String, in range: ClosedRange<Double>, lowerOpen: Bool) -> Double? {
        guard let value = double(log, what: what) else { return nil }
        let aboveLower = lowerOpen ? value > range.lowerBound : value >= range.lowerBound
        guard aboveLower, value <= range.upperBound else {
            func text(_ number: Double) -> String {
                number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
            }
            let lower = lowerOpen ? "more than \(text(range.lowerBound))" : "at least \(text(range.lowerBound))"
            log.error(
                "\(what) must be \(lower) and at most \(text(range.upperBound)), not \(text(value))", at: location)
            return nil
        }
        return value
    }
}
