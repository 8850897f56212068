import Foundation
import Logging
import RetryCore
import ServiceLifecycle
import Synchronization

/// Turns due episodes into HDP calls: asks the engine for what may start now (the
/// ``DispatchMachine`` applies `max_in_flight`, the token bucket and the breaker), runs each work
/// item in a child task, and sleeps until the next due time or a doorbell ring.
///
/// On graceful shutdown it stops claiming new work and lets the work in flight finish.
public final class Dispatcher: Service, Sendable {
    private let engine: RetryEngine
    private let client: any HDPClient
    private let clock: any AgentClock
    private let metrics: AgentMetrics?

    public init(engine: RetryEngine, client: any HDPClient, clock: any AgentClock, metrics: AgentMetrics?) {
        self.engine = engine
        self.client = client
        self.clock = clock
        self.metrics = metrics
    }

    public func run() async throws {
        let doorbell = engine.doorbell
        let inFlight = SharedCounter()
        let stopping = SharedCounter()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled, stopping.value == 0 {
                    let (run, wakeAt) = await engine.claim()
                    for admitted in run {
                        metrics?.inFlight.set(Double(inFlight.add(1)))
                        group.addTask {
                            await self.engine.run(admitted, client: self.client)
                            self.metrics?.inFlight.set(Double(inFlight.add(-1)))
                        }
                    }
                    if !run.isEmpty { continue }
                    await doorbell.wait(until: wakeAt, clock: clock)
                }
            }
        } onGracefulShutdown: {
            _ = stopping.add(1)
            doorbell.ring()
        }
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
