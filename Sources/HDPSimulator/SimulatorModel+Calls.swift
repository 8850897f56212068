import Foundation

/// An injected fault's answer, written instead of serving the call.
public struct FaultResponse: Sendable, Hashable {
    /// The HTTP status code.
    public var status: Int
    /// The `Retry-After` header value, when one is sent.
    public var retryAfter: String?
    /// The `error` text of the JSON body.
    public var message: String
}

/// How the simulator will treat one HDP call: after `latency`, answer with `fault` or serve it.
public struct Admission: Sendable, Hashable {
    /// Delay before answering.
    public var latency: Duration
    /// The fault's answer, or `nil` to serve the call.
    public var fault: FaultResponse?
}

/// How a retry call was answered.
public enum RetryResult: Sendable, Hashable {
    /// 401: `X-API-KEY` missing or wrong.
    case unauthorized
    /// 404: no such task.
    case notFound
    /// 400: "Cannot retry decommitment", with the details.
    case rejected(details: String)
    /// 200: a re-run of `kind` was queued; `duplicate` when the task was not failed.
    case accepted(kind: RetryKind, duplicate: Bool)
}

/// The HDP endpoints, as operations on the model.
extension SimulatorModel {
    /// Counts a call to `endpoint` for `taskID` and decides whether a fault answers it. Faults are
    /// checked in a fixed order (outage, rate limit, random error) and the generator is consulted
    /// only when an error rate is set and the endpoint is one the faults target, so a seed
    /// reproduces a run exactly. (`.list` is counted without a page; see ``admitList(page:now:)``.)
    public mutating func admit(_ endpoint: SimulatorEndpoint, taskID: String, now: Date) -> Admission {
        switch endpoint {
        case .retry:
            calls.retry.total += 1
            calls.retry.callsByTask[taskID, default: 0] += 1
        case .status, .stateTransitions:
            count(endpoint) { counts in
                counts.total += 1
                counts.byTask[taskID, default: 0] += 1
            }
        case .list:
            calls.list.total += 1
        }
        return admission(endpoint, now: now)
    }

    /// Counts a call to `GET /tasks` (under `page` when the query was valid) and decides whether
    /// a fault answers it, as ``admit(_:taskID:now:)`` does for the per-task endpoints.
    public mutating func admitList(page: Int?, now: Date) -> Admission {
        calls.list.total += 1
        if let page { calls.list.byPage[String(page), default: 0] += 1 }
        return admission(.list, now: now)
    }

    /// Counts a `GET /tasks` call refused for its query (400).
    public mutating func rejectList() {
        calls.list.rejected += 1
    }

    private mutating func admission(_ endpoint: SimulatorEndpoint, now: Date) -> Admission {
        guard faults.endpoints.contains(endpoint) else { return Admission(latency: .zero, fault: nil) }
        let latency = Duration.milliseconds(faults.latencyMilliseconds)
        guard let fault = decideFault(now: now) else { return Admission(latency: latency, fault: nil) }
        switch endpoint {
        case .retry: calls.retry.faulted += 1
        case .status, .stateTransitions: count(endpoint) { $0.faulted += 1 }
        case .list: calls.list.faulted += 1
        }
        return Admission(latency: latency, fault: fault)
    }

    private mutating func decideFault(now: Date) -> FaultResponse? {
        if faults.outage || (outageUntil.map { now < $0 } ?? false) {
            return FaultResponse(status: 503, retryAfter: nil, message: "Service unavailable (simulated outage)")
        }
        if var limit = faults.rateLimit, limit.count.map({ $0 > 0 }) ?? true {
            if let remaining = limit.count {
                limit.count = remaining - 1
                faults.rateLimit = limit
            }
            let header = limit.retryAfter.map { seconds in
                limit.httpDate ? HTTPDate.imfFixdate(now.addingTimeInterval(Double(seconds))) : String(seconds)
            }
            return FaultResponse(status: 429, retryAfter: header, message: "Too many requests (simulated)")
        }
        if faults.errorRate > 0, Double.random(in: 0..<1, using: &generator) < faults.errorRate {
            return FaultResponse(status: faults.errorStatus, retryAfter: nil, message: "Simulated failure")
        }
        return nil
    }

    /// Serves `POST /tasks/{id}/retry` as HDP documents it. An accepted retry resets the task to
    /// `Received` (recording the kind of re-run on that transition) and, when workflow progression
    /// is on, queues the re-run to settle `progress_after_ms` later. Retrying a task that is not
    /// failed is accepted too — HDP has no idempotency key — and counted as a duplicate.
    public mutating func retry(taskID: String, apiKey presented: String?, now: Date) -> RetryResult {
        settle(now: now)
        guard let presented, constantTimeEquals(presented, apiKey) else {
            calls.retry.unauthorized += 1
            return .unauthorized
        }
        let key = taskID.lowercased()
        guard let task = tasks[key] else {
            calls.retry.notFound += 1
            return .notFound
        }
        if task.status == HDPWorkflow.decommitmentFailed, task.resultsMissing {
            calls.retry.rejected += 1
            return .rejected(details: "Task results are missing; decommitment of task \(task.id) cannot be retried")
        }
        let duplicate = !HDPWorkflow.isFailed(task.status)
        let kind: RetryKind = task.failedStatus == HDPWorkflow.decommitmentFailed ? .decommitment : .full
        move(key, to: HDPWorkflow.received, at: now, kind: kind)
        tasks[key]?.pendingRun = faults.progressAfterMilliseconds.map {
            PendingRun(due: now.addingTimeInterval(Double($0) / 1000), kind: kind)
        }
        calls.retry.accepted += 1
        calls.retry.byTask[taskID, default: 0] += 1
        if duplicate { calls.retry.duplicate += 1 }
        return .accepted(kind: kind, duplicate: duplicate)
    }

    /// Serves `GET /tasks/{id}/status` and `GET /tasks/{id}/state_transitions`: the task as it is
    /// at `now`, or `nil` (404).
    public mutating func read(_ endpoint: SimulatorEndpoint, taskID: String, now: Date) -> SimulatedTask? {
        settle(now: now)
        guard let task = tasks[taskID.lowercased()] else {
            count(endpoint) { $0.notFound += 1 }
            return nil
        }
        return task
    }

    private func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}
