import Foundation
import Synchronization

/// What a load run saw.
struct LoadResult: Sendable {
    /// Per answered request: when it was due, in seconds from the start of the run.
    var due: [Double] = []
    /// Per answered request, in the order of ``due``: seconds from when it was due (fixed rate)
    /// or sent (as fast as possible) to the end of its response.
    var latencies: [Double] = []
    /// Answers by HTTP status.
    var statuses: [Int: Int] = [:]
    /// Requests that got no answer (connection refused or closed, timeout).
    var failures = 0
    /// The first failure's message.
    var firstFailure: String?
    /// Requests sent later than due because their connection was still busy.
    var late = 0
    /// Wall-clock seconds from the start to the last answer.
    var seconds = 0.0

    /// Adds another connection's results to these.
    mutating func merge(_ other: LoadResult) {
        due += other.due
        latencies += other.latencies
        statuses.merge(other.statuses, uniquingKeysWith: +)
        failures += other.failures
        firstFailure = firstFailure ?? other.firstFailure
        late += other.late
    }

    /// Answers with a status other than `expected`, and failures.
    func unexpected(expected: Int) -> Int {
        statuses.filter { $0.key != expected }.values.reduce(0, +) + failures
    }

    /// The latency quantiles (seconds) of the requests due in `window`, or of all of them.
    func quantiles(in window: ClosedRange<Double>? = nil) -> Quantiles {
        var values: [Double]
        if let window {
            values = zip(due, latencies).filter { window.contains($0.0) }.map(\.1)
        } else {
            values = latencies
        }
        values.sort()
        return Quantiles(sorted: values)
    }
}

/// Latency quantiles in seconds.
struct Quantiles: Sendable {
    /// Latencies the quantiles are of.
    var count: Int
    /// Median.
    var p50: Double
    /// 99th percentile (nearest rank).
    var p99: Double
    /// Largest.
    var max: Double

    /// The quantiles of `values`, sorted in ascending order.
    init(sorted values: [Double]) {
        count = values.count
        func quantile(_ q: Double) -> Double {
            guard !values.isEmpty else { return .nan }
            let rank = Int((q * Double(values.count)).rounded(.up)) - 1
            return values[Swift.min(Swift.max(rank, 0), values.count - 1)]
        }
        p50 = quantile(0.5)
        p99 = quantile(0.99)
        max = values.last ?? .nan
    }

    /// Quantiles computed elsewhere (by wrk).
    init(count: Int, p50: Double, p99: Double, max: Double) {
        self.count = count
        self.p50 = p50
        self.p99 = p99
        self.max = max
    }
}

/// Load generators in the benchmark's own process, over ``LoopbackConnection``s, one thread
/// per connection.
enum LoadDriver {
    /// Open loop at a fixed rate: request `i` is due at `start + i / rate` and goes out on
    /// connection `i mod connections`. Latency counts from when a request was due, not from when
    /// it was sent, so a stall is charged to every request it delays (no coordinated omission:
    /// a request whose connection is still busy when it is due waits, and that wait counts).
    ///
    /// `onTick` runs on the calling thread every 100 ms until the run ends (to watch metrics).
    /// Requests still unsent 15 s after the last one was due count as failures.
    static func fixedRate(
        port: Int, requests: [[UInt8]], rate: Double, connections: Int,
        onTick: (Double) -> Void = { _ in }
    ) -> LoadResult {
        let connections = max(1, min(connections, requests.count))
        let start = Monotonic.nanoseconds + 50_000_000
        let interval = 1e9 / rate
        let deadline = start + UInt64((Double(requests.count) / rate + 15) * 1e9)
        return run(connections: connections, onTick: onTick) { connection in
            var result = LoadResult()
            let client = LoopbackConnection(port: port)
            var index = connection
            while index < requests.count {
                let due = start + UInt64(Double(index) * interval)
                let now = Monotonic.nanoseconds
                if now > deadline {
                    result.failures += 1
                    result.firstFailure = result.firstFailure ?? "not sent: the run passed its deadline"
                } else {
                    if now > due + 1_000_000 { result.late += 1 }
                    Monotonic.sleep(until: due)
                    result.record(client: client, request: requests[index], dueNanoseconds: due, start: start)
                }
                index += connections
            }
            result.seconds = Double(Monotonic.nanoseconds - start) / 1e9
            return result
        }
    }

    /// Closed loop: sends every request once, as fast as `connections` connections can, for at
    /// most `timeout` seconds (requests left then count as failures).
    static func asFastAsPossible(port: Int, requests: [[UInt8]], connections: Int, timeout: Double) -> LoadResult {
        let next = SharedCounter()
        let start = Monotonic.nanoseconds
        let deadline = start + UInt64(timeout * 1e9)
        return run(connections: max(1, connections)) { _ in
            var result = LoadResult()
            let client = LoopbackConnection(port: port)
            while true {
                let index = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < requests.count else { break }
                let now = Monotonic.nanoseconds
                if now > deadline {
                    result.failures += 1
                    result.firstFailure = result.firstFailure ?? "not sent: the run passed its deadline"
                    continue
                }
                result.record(client: client, request: requests[index], dueNanoseconds: now, start: start)
            }
            result.seconds = Double(Monotonic.nanoseconds - start) / 1e9
            return result
        }
    }

    /// Runs `body` on `connections` threads and merges what they return.
    private static func run(
        connections: Int, onTick: (Double) -> Void = { _ in },
        _ body: @escaping @Sendable (Int) -> LoadResult
    ) -> LoadResult {
        let shared = SharedResults()
        let start = Monotonic.now
        for connection in 0..<connections {
            let thread = Thread {
                let result = body(connection)
                shared.results.withLock {
                    $0.merge(result)
                    $0.seconds = max($0.seconds, result.seconds)
                }
                shared.finished.add(1, ordering: .releasing)
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        while shared.finished.load(ordering: .acquiring) < connections {
            usleep(100_000)
            onTick(Monotonic.now - start)
        }
        return shared.results.withLock { $0 }
    }

    /// The threads' merged results and how many threads have finished.
    private final class SharedResults: Sendable {
        let results = Mutex<LoadResult>(LoadResult())
        let finished = Atomic<Int>(0)
    }

    /// The next request to send, shared by the threads of a closed-loop run.
    private final class SharedCounter: Sendable {
        let value = Atomic<Int>(0)
    }
}

extension LoadResult {
    /// Sends one request due at `dueNanoseconds` and records its answer and latency.
    fileprivate mutating func record(
        client: LoopbackConnection, request: [UInt8], dueNanoseconds: UInt64, start: UInt64
    ) {
        do {
            let response = try client.exchange(request)
            let done = Monotonic.nanoseconds
            statuses[response.status, default: 0] += 1
            due.append(Double(dueNanoseconds &- start) / 1e9)
            latencies.append(Double(done &- dueNanoseconds) / 1e9)
        } catch {
            failures += 1
            if firstFailure == nil { firstFailure = "\(error)" }
        }
    }
}
