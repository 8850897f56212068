import Foundation
import HDPSimulator
import HummingbirdTesting
import Testing

@Suite("Simulator faults")
struct SimulatorFaultTests {
    @Test("an outage answers 503 on every HDP endpoint but not on /_sim/")
    func outage() async throws {
        try await withSimulator { client, state in
            #expect(try await client.control("faults", .put, json: #"{"outage":true}"#).status == .ok)
            #expect(try await client.retry(failedTask).status == .serviceUnavailable)
            #expect(try await client.status(failedTask).status == .serviceUnavailable)
            let transitions = try await client.execute(uri: "/tasks/\(failedTask)/state_transitions", method: .get)
            #expect(transitions.status == .serviceUnavailable)
            #expect(try await client.control("calls", .get).status == .ok)
            #expect(state.task(failedTask)?.status == "AtlanticProvingFailed")
            #expect(state.calls.retry.faulted == 1)
            #expect(state.calls.retry.accepted == 0)
            #expect(state.calls.status.faulted == 1)
        }
    }

    @Test("an outage with a duration ends when simulator time passes it")
    func timedOutage() async throws {
        try await withSimulator(faults: SimulatorFaults(outageMilliseconds: 5000)) { client, _ in
            #expect(try await client.status(failedTask).status == .serviceUnavailable)
            _ = try await client.control("advance", .post, json: #"{"ms":4999}"#)
            #expect(try await client.status(failedTask).status == .serviceUnavailable)
            _ = try await client.control("advance", .post, json: #"{"ms":1}"#)
            #expect(try await client.status(failedTask).status == .ok)
        }
    }

    @Test("a rate limit answers 429 with Retry-After for the next N calls, then serves")
    func rateLimitCount() async throws {
        try await withSimulator { client, state in
            _ = try await client.control("faults", .put, json: #"{"rate_limit":{"count":2,"retry_after":7}}"#)
            for _ in 0..<2 {
                let response = try await client.retry(failedTask)
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "7")
            }
            #expect(try await client.retry(failedTask).status == .ok)
            #expect(state.calls.retry.faulted == 2)
            #expect(state.faults.rateLimit?.count == 0)
        }
    }

    @Test("a rate limit without a count limits every call, and can send an HTTP date")
    func rateLimitAlways() async throws {
        let faults = SimulatorFaults(rateLimit: RateLimitFault(retryAfter: 7, httpDate: true))
        try await withSimulator(faults: faults) { client, _ in
            for _ in 0..<5 {
                let response = try await client.status(failedTask)
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] == "Tue, 18 Mar 2025 10:00:07 GMT")
            }
        }
    }

    @Test("a rate limit without retry_after sends no Retry-After")
    func rateLimitNoHeader() async throws {
        try await withSimulator(faults: SimulatorFaults(rateLimit: RateLimitFault(count: 1))) { client, _ in
            let response = try await client.retry(failedTask)
            #expect(response.status == .tooManyRequests)
            #expect(response.headers[.retryAfter] == nil)
        }
    }

    @Test("an error rate of 1 answers every call with the configured status")
    func errorRateAlways() async throws {
        try await withSimulator(faults: SimulatorFaults(errorRate: 1, errorStatus: 502)) { client, state in
            for _ in 0..<3 {
                let response = try await client.retry(failedTask)
                #expect(response.status == .badGateway)
            }
            #expect(state.calls.retry.faulted == 3)
            #expect(state.task(failedTask)?.status == "AtlanticProvingFailed")
        }
    }

    @Test("random errors are reproducible from the seed and near the configured rate")
    func errorRateSeeded() throws {
        func run(seed: UInt64) throws -> [Bool] {
            var model = try SimulatorModel(
                apiKey: simKey, seed: seed, faults: SimulatorFaults(errorRate: 0.5), tasks: [], now: simStart)
            return (0..<400).map { _ in model.admit(.status, taskID: failedTask, now: simStart).fault != nil }
        }
        let first = try run(seed: 42)
        let again = try run(seed: 42)
        let other = try run(seed: 43)
        #expect(first == again)
        #expect(first != other)
        let faulted = first.filter { $0 }.count
        #expect((120...280).contains(faulted))
    }

    @Test("latency is applied to HDP calls as configured")
    func latency() throws {
        var model = try SimulatorModel(
            apiKey: simKey, seed: 1, faults: SimulatorFaults(latencyMilliseconds: 250), tasks: [], now: simStart)
        let admission = model.admit(.retry, taskID: failedTask, now: simStart)
        #expect(admission.latency == .milliseconds(250))
        #expect(admission.fault == nil)
    }

    @Test("PUT /_sim/faults replaces the whole set and GET returns it")
    func replaceFaults() async throws {
        try await withSimulator(faults: SimulatorFaults(errorRate: 1)) { client, _ in
            _ = try await client.control("faults", .put, json: #"{"latency_ms":5}"#)
            let faults = try await client.control("faults", .get).object()
            #expect(faults["error_rate"] as? Double == 0)
            #expect(faults["latency_ms"] as? Int == 5)
            #expect(try await client.status(failedTask).status == .ok)
        }
    }
}
