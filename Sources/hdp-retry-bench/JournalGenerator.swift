import Foundation
import RetryAgent
import RetryCore
import RetryJournal
import RetryRules

/// A deterministic random number generator (SplitMix64), so that a benchmark journal is the same
/// from run to run and numbers can be compared.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// A number in `[0, 1)`.
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Whether an event of probability `p` happens.
    mutating func chance(_ p: Double) -> Bool { unit() < p }
}

/// Makes a realistic journal by driving the agent's real decision functions (``Ledger/decide``,
/// ``Ledger/decideAfterStatus``, ``Ledger/decideAfterCall``, the ``CircuitBreaker`` and the
/// built-in rules) with simulated deliveries and HDP answers, and encoding every record with
/// ``JournalCodec/encode(_:)``, exactly as the agent does live.
///
/// The simulation: time moves on by a random step; a failure notice arrives for a random task
/// (most are HDP failures the rules retry, some are give-ups, some are not failures, a few are
/// re-deliveries of a recent id); then tasks that are due get a status check and, when still
/// failed, a retry call. Now and then HDP has an outage (5xx and timeouts), which trips the
/// circuit breaker and journals its transitions.
struct JournalGenerator {
    /// How many records of each type were written.
    private(set) var counts: [String: Int] = [:]
    /// Nanoseconds spent in ``JournalCodec/encode(_:)`` alone.
    private(set) var encodeNanoseconds: UInt64 = 0
    private(set) var records = 0
    private(set) var bytes = 0
    private(set) var time: Date

    private var random: SplitMix64
    private var ledger = Ledger(dedupWindow: .seconds(86_400))
    private var breaker = CircuitBreaker(settings: CircuitBreakerSettings())
    private let tasks: [TaskID]
    private let stepMilliseconds: Int
    private let rules = RuleSet.builtIn
    private var recentDeliveries: [String] = []
    private var deliveryCounter = 0
    private var outageUntil: Date = .distantPast
    private var buffer: [UInt8] = []
    private var pending: [JournalRecord] = []

    /// `tasks` task ids, records spread over `hours` of simulated time.
    init(tasks count: Int, records: Int, hours: Double, seed: UInt64) {
        random = SplitMix64(state: seed)
        var random = SplitMix64(state: seed ^ 0x5EED)
        tasks = (0..<count).map { _ in Self.ulid(&random) }
        stepMilliseconds = max(1, Int(hours * 3_600_000 / Double(records)))
        time = Date(millisecondsSince1970: 1_800_000_000_000)
        buffer.reserveCapacity(1 << 22)
    }

    private static let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    private static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A Standard Webhooks message id in Svix's shape (`msg_` and 27 base62 characters: 31
    /// bytes), unique through `counter`.
    static func messageID(counter: Int, _ random: inout SplitMix64) -> String {
        var text = Array("msg_".utf8)
        var value = counter
        for _ in 0..<8 {
            text.append(base62[value % 62])
            value /= 62
        }
        for _ in 0..<19 { text.append(base62[random.below(62)]) }
        return String(decoding: text, as: UTF8.self)
    }

    /// A correlation id in the agent's shape (13 lower-case base32 digits of 64 bits), from `bits`.
    static func correlationID(_ bits: UInt64) -> String {
        String(decoding: (0..<13).map { crockford[Int((bits >> UInt64(60 - 5 * $0)) & 31)] | 0x20 }, as: UTF8.self)
    }

    /// A random ULID-shaped task id (`01J…`, 26 characters).
    static func ulid(_ random: inout SplitMix64) -> TaskID {
        var text: [UInt8] = Array("01J".utf8)
        for _ in 0..<23 { text.append(crockford[random.below(32)]) }
        return TaskID(String(decoding: text, as: UTF8.self))!
    }

    private static let failures: [(status: String, errors: [String])] = [
        (
            "AtlanticProvingFailed",
            [
                "prover unavailable: atlantic queue capacity exceeded, try again later",
                "atlantic job 7f3c2a failed: request timed out after 600s",
                "proof generation failed: out of memory in stone prover (exit code 137)",
            ]
        ),
        (
            "TraceGenFailed",
            [
                "rpc error: connection reset by peer while fetching block 21874512",
                "cairo-run failed: unknown opcode at pc 1234",
            ]
        ),
        ("DryRunFailed", ["module execution failed: invalid datalake definition: unsupported chain 99"]),
        ("ChainProofsFetchFailed", ["http 503 service unavailable from https://rpc.example.org"]),
        ("TaskDecommitmentFailed", ["results not found for task", "decommitment tx reverted: nonce too low"]),
    ]

    /// Runs until at least `records` records were made, handing encoded bytes to `write` in
    /// chunks of a few MiB.
    mutating func run(records target: Int, write: ([UInt8]) -> Void) {
        while records < target {
            time = time.addingTimeInterval(Double(random.below(2 * stepMilliseconds + 1)) / 1000)
            if time >= outageUntil, random.chance(0.000_2) {
                outageUntil = time.addingTimeInterval(Double(60 + random.below(540)))
            }
            if random.chance(0.45) { deliver() }
            dispatchDue()
            if buffer.count >= 1 << 22 {
                write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        encodePending()
        if !buffer.isEmpty { write(buffer) }
        buffer.removeAll()
    }

    private mutating func append(_ body: RecordBody, task: TaskID?) {
        let record = JournalRecord(seq: ledger.lastSeq + 1, time: time.roundedToMilliseconds, task: task, body: body)
        ledger.apply(record)
        pending.append(record)
        records += 1
        counts[body.typeName, default: 0] += 1
        if pending.count == 4096 { encodePending() }
    }

    /// Encodes the records made since the last call, timing the encoder alone.
    private mutating func encodePending() {
        let start = cpuNanoseconds()
        for record in pending {
            let line = JournalCodec.encode(record)
            buffer.append(contentsOf: line)
            bytes += line.count
        }
        encodeNanoseconds += cpuNanoseconds() - start
        pending.removeAll(keepingCapacity: true)
    }

    private mutating func deliver() {
        let now = time.roundedToMilliseconds
        let task = tasks[random.below(tasks.count)]
        let deliveryID: String
        if !recentDeliveries.isEmpty, random.chance(0.03) {
            deliveryID = recentDeliveries[random.below(recentDeliveries.count)]
        } else {
            deliveryCounter += 1
            deliveryID = Self.messageID(counter: deliveryCounter, &random)
            if recentDeliveries.count < 1024 {
                recentDeliveries.append(deliveryID)
            } else {
                recentDeliveries[random.below(1024)] = deliveryID
            }
        }
        let status: String
        let error: String?
        if random.chance(0.08) {
            status = ["Finished", "Received", "ProofRequested"][random.below(3)]
            error = nil
        } else {
            let failure = Self.failures[random.below(Self.failures.count)]
            status = failure.status
            error = failure.errors[random.below(failure.errors.count)]
        }
        // HDP's callback body, which a delivery record keeps when the rules decide it.
        let sent = now.addingTimeInterval(-2)
        var members: [String: JSONValue] = [
            "task_id": .string(task.rawValue), "status": .string(status), "timestamp": .string(ISO8601.format(sent)),
        ]
        if let error { members["error"] = .string(error) }
        let notice = FailureNotice(
            taskID: task, status: status, error: error, timestamp: sent, payload: .object(members))
        let correlationID = Self.correlationID(random.next())
        let input = DeliveryInput(notice: notice, deliveryID: deliveryID, correlationID: correlationID)
        let rules = rules
        if case .record(let delivery) = ledger.decide(input, now: now, jitter: random.unit(), classify: rules.classify)
        {
            append(.delivery(delivery), task: task)
        }
    }

    private mutating func dispatchDue() {
        let now = time.roundedToMilliseconds
        let inOutage = now < outageUntil
        let rules = rules
        for task in ledger.takeDue(now: now, limit: 4) {
            let (permitted, transition) = breaker.acquire(now: now)
            if let transition { append(.breaker(transition), task: nil) }
            guard permitted else {
                ledger.putBack(task)
                continue
            }
            let check: HDPStatusOutcome
            switch (inOutage, random.below(100)) {
            case (true, 0..<70): check = .failure(random.chance(0.5) ? .timeout : .serverError(httpStatus: 502))
            case (_, 0..<85):
                let status = ledger.tasks[task]?.episode?.status ?? "AtlanticProvingFailed"
                check = .status(TaskStatusInfo(status: status, errorMessage: nil, updatedAt: nil))
            case (_, 85..<93):
                check = .status(TaskStatusInfo(status: "Finished", errorMessage: nil, updatedAt: nil))
            case (_, 93..<96): check = .failure(.notFound)
            default: check = .failure(.timeout)
            }
            let verdict = ledger.decideAfterStatus(
                of: task, outcome: check, now: now, jitter: random.unit(), retryAfterCap: .seconds(600),
                classify: rules.classify)
            switch verdict {
            case .call(let started)?:
                append(.attemptStarted(started), task: task)
                call(task, now: now, inOutage: inOutage)
            case .end(let ended)?:
                recordBreaker(failure: false, now: now)
                append(.episodeEnded(ended), task: task)
            case .later(let finished)?:
                if case .failure(let failure) = check {
                    recordBreaker(failure: failure.isBreakerFailure, now: now)
                } else {
                    breaker.release()
                }
                append(.attemptFinished(finished), task: task)
            case nil:
                breaker.release()
            }
        }
    }

    private mutating func call(_ task: TaskID, now: Date, inOutage: Bool) {
        let outcome: HDPCallOutcome
        switch (inOutage, random.below(100)) {
        case (true, _): outcome = random.chance(0.5) ? .timeout : .serverError(httpStatus: 503)
        case (false, 0..<82): outcome = .accepted
        case (false, 82..<88): outcome = .rateLimited(retryAfter: .seconds(Int64(1 + random.below(30))))
        case (false, 88..<93): outcome = .serverError(httpStatus: 502)
        case (false, 93..<96): outcome = .rejected(details: "Cannot retry decommitment: task is not in a failed state")
        case (false, 96..<98): outcome = .notFound
        default: outcome = .networkError("connection reset by peer")
        }
        if let finished = ledger.decideAfterCall(
            of: task, outcome: outcome, now: now, jitter: random.unit(), retryAfterCap: .seconds(600))
        {
            append(.attemptFinished(finished), task: task)
        }
        recordBreaker(failure: outcome.isBreakerFailure, now: now)
    }

    /// Reports a permitted call to the breaker, as the retry engine does, journaling transitions.
    private mutating func recordBreaker(failure: Bool, now: Date) {
        if let transition = breaker.record(failure: failure, now: now) { append(.breaker(transition), task: nil) }
    }
}
