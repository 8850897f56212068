import Foundation
import Logging
import RetryCore
import ServiceLifecycle
import Synchronization

/// Settings of the dispatcher (`dispatch.*`).
public struct DispatchSettings: Sendable, Hashable {
    public var maxInFlight = 4
    public var ratePerSecond = 5.0
    public var burst = 10

    public init() {}
}

/// Turns due episodes into HDP calls: at most `max_in_flight` at once, at most `rate_per_second`
/// (token bucket with `burst`), only while the breaker lets them through. Each work item is the
/// status check (when configured, or when a crash interrupted the attempt) and then the retry call.
///
/// On graceful shutdown it stops claiming new work and lets calls in flight finish.
public final class Dispatcher: Service, Sendable {
    private let engine: RetryEngine
    private let client: any HDPClient
    private let settings: DispatchSettings
    private let clock: any AgentClock
    private let logger: Logger
    private let metrics: AgentMetrics?

    public init(
        engine: RetryEngine, client: any HDPClient, settings: DispatchSettings, clock: any AgentClock, logger: Logger,
        metrics: AgentMetrics?
    ) {
        self.engine = engine
        self.client = client
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
    }

    public func run() async throws {
        let doorbell = engine.doorbell
        let inFlight = SharedCounter()
        let stopping = SharedCounter()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var bucket = TokenBucket(rate: settings.ratePerSecond, burst: settings.burst)
                while !Task.isCancelled, stopping.value == 0 {
                    let now = clock.now
                    let free = settings.maxInFlight - inFlight.value
                    var tokens = 0
                    while tokens < free, bucket.take(now: now) { tokens += 1 }
                    let (items, wakeAt) = await engine.claimDue(limit: tokens)
                    bucket.giveBack(tokens - items.count)
                    for item in items {
                        let running = inFlight.add(1)
                        metrics?.inFlight.set(Double(running))
                        group.addTask {
                            await self.process(item)
                            let running = inFlight.add(-1)
                            self.metrics?.inFlight.set(Double(running))
                            doorbell.ring()
                        }
                    }
                    if !items.isEmpty { continue }
                    var deadline = wakeAt
                    if let due = wakeAt, due <= now {
                        // Work is due but held back: by the concurrency limit (a finishing call
                        // rings), the rate limit (until the next token) or half-open probes in
                        // flight (a finishing probe rings; look again in a second regardless).
                        if free <= 0 {
                            deadline = nil
                        } else if tokens == 0 {
                            deadline = bucket.nextToken(now: now)
                        } else {
                            deadline = now.addingTimeInterval(1)
                        }
                    }
                    await doorbell.wait(until: deadline, clock: clock)
                }
            }
        } onGracefulShutdown: {
            _ = stopping.add(1)
            doorbell.ring()
        }
    }

    /// One work item: status check (when needed), then the retry call (unless dry-run).
    private func process(_ item: WorkItem) async {
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(item.task)"
        logger[metadataKey: "correlation_id"] = "\(item.correlationID)"
        var statusOutcome: HDPStatusOutcome?
        if engine.needsStatusCheck(item) {
            let start = ContinuousClock.now
            statusOutcome = await client.status(of: item.task)
            metrics?.callDuration.record(ContinuousClock.now - start)
        }
        let step = await engine.statusChecked(item, outcome: statusOutcome)
        guard case .call(let attempt) = step else {
            engine.doorbell.ring()
            return
        }
        if engine.settings.dryRun {
            logger.notice("dry run: retry not sent", metadata: ["attempt": "\(attempt)", "rule": "\(item.rule)"])
            await engine.callFinished(item, outcome: nil, duration: .zero)
            return
        }
        logger.info("sending retry", metadata: ["attempt": "\(attempt)", "rule": "\(item.rule)"])
        let start = ContinuousClock.now
        let outcome = await client.retry(item.task)
        await engine.callFinished(item, outcome: outcome, duration: ContinuousClock.now - start)
    }
}

/// A counter shared between a loop and the tasks it starts.
final class SharedCounter: Sendable {
    private let count = Mutex(0)

    var value: Int { count.withLock { $0 } }

    /// Adds `delta` and returns the new value.
    func add(_ delta: Int) -> Int {
        count.withLock { count in
            count += delta
            return count
        }
    }
}
