#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Settings of the dispatcher (`dispatch.*`, `hdp.confirm_status`, `dry_run`, `circuit_breaker.*`).
public struct DispatchSettings: Sendable, Hashable {
    /// Work items (status check and retry call) at once.
    public var maxInFlight = 4
    /// Token bucket on HDP work: this many a second…
    public var ratePerSecond = 5.0
    /// …with at most this many saved up.
    public var burst = 10
    /// Ask `GET /tasks/{id}/status` before every retry (always done for an interrupted attempt).
    public var confirmStatus = true
    /// Decide and journal, send nothing.
    public var dryRun = false
    /// The circuit breaker around HDP.
    public var breaker = CircuitBreakerSettings()

    public init() {}
}

/// The answer to ``DispatchMachine/permitListCall(now:)``.
public enum ListCallPermit: Sendable, Hashable {
    /// A token was taken: the call may go out.
    case granted
    /// No token now; the next one comes at this time.
    case wait(until: Date)
    /// The breaker holds HDP calls back: open (cool-down not over) or half-open.
    case breakerOpen
    /// The agent is stopping.
    case stopping
}

/// One due task handed to the dispatcher.
public struct WorkItem: Sendable, Hashable {
    public var task: TaskID
    /// The correlation id of the delivery that opened the episode, for every log line of it.
    public var correlationID: String
    /// The rule the episode runs under.
    public var rule: String
    /// A retry call was journaled as started and never finished (a crash, or an outcome that was
    /// never known): the status check is made whatever `hdp.confirm_status` says.
    public var interrupted: Bool

    public init(task: TaskID, correlationID: String, rule: String, interrupted: Bool) {
        self.task = task
        self.correlationID = correlationID
        self.rule = rule
        self.interrupted = interrupted
    }
}

/// The dispatch protocol as a pure state machine: which due tasks may start (concurrency cap,
/// token bucket, circuit breaker), and what each work item does next. Events go in with the time
/// they happened; what to do comes out. The owner performs it (HTTP calls, journal appends) and
/// reports back with the next event.
///
/// A work item goes through these phases, and holds one breaker permit from admission until
/// exactly one of: its call's result is recorded, or the permit is released unused.
///
/// ```
///            admit ──(breaker refuses)──▶ put back (with every later candidate)
///              │
///   checkStatus│ or decide                (checkStatus: hdp.confirm_status, or an interrupted attempt)
///              ▼
///           decided(verdict) ──(none / later / end)──▶ finished   permit: recorded or released
///              │ call(attempt)
///              ▼
///           started(durable?) ──(not durable)──▶ abandoned       permit: released
///              │ durable          └─(dry run)──▶ dry run          permit: released
///              ▼
///           callFinished(outcome) ──▶ finished                    permit: recorded
/// ```
///
/// A status check's own result is recorded in the breaker only when it ends the work item
/// (`later`, `end`); when the retry follows, the permit carries on to the call and its result is
/// the one recorded. So one work item is one call's worth of breaker accounting.
public struct DispatchMachine: Sendable {
    /// What a work item does first.
    public enum FirstStep: Sendable, Hashable {
        /// Ask HDP for the task's status, then report ``DispatchMachine/decided(_:checked:verdict:now:)``.
        case checkStatus
        /// Decide without a status check (`hdp.confirm_status: false`).
        case decide
    }

    /// Where a work item is.
    public enum Phase: Sendable, Hashable {
        /// Admitted: its status check (if any) and decision are under way.
        case deciding
        /// `attempt_started` is appended; waiting until it is durable.
        case starting(attempt: Int)
        /// The retry call is out.
        case calling(attempt: Int)
    }

    /// An admitted work item and its first step.
    public struct Admitted: Sendable, Hashable {
        public var item: WorkItem
        public var first: FirstStep
    }

    /// What ``admit(_:now:)`` decided.
    public struct Admission: Sendable, Hashable {
        /// Items to run, each with its first step.
        public var run: [Admitted] = []
        /// Candidates the breaker refused: they go back to the store untouched.
        public var putBack: [TaskID] = []
        /// Breaker transitions to journal (open → half-open when the cool-down is over).
        public var transitions: [BreakerSnapshot] = []
    }

    /// What follows a decision.
    public enum AfterDecision: Sendable, Hashable {
        /// The work item is over (its record says why).
        case finished
        /// Wait until `attempt_started` is durable, then report ``started(_:durable:)``.
        case awaitStart(attempt: Int)
    }

    /// What follows `attempt_started`.
    public enum AfterStart: Sendable, Hashable {
        /// Send the retry call, then report ``callFinished(_:outcome:now:)``.
        case send(attempt: Int)
        /// Dry-run mode: journal a `dry_run` result instead, then report
        /// ``callFinished(_:outcome:now:)`` with no outcome.
        case dryRun(attempt: Int)
        /// The record could not be made durable: no call. The task goes back to the store; its
        /// episode shows the attempt as started, so its next try begins with a status check.
        case abandon
    }

    private struct Claim: Sendable, Hashable {
        var phase: Phase
        var holdsPermit: Bool
    }

    public let settings: DispatchSettings
    /// The breaker, restored from the journal and moved by calls' results.
    public private(set) var breaker: CircuitBreaker
    private var bucket: TokenBucket
    private var claims: [TaskID: Claim] = [:]
    /// Tokens taken by ``reserve(now:)`` and not yet settled by ``admit(_:now:)``.
    private var reserved = 0
    /// Set by ``beginStopping()``: nothing new is admitted.
    public private(set) var isStopping = false

    /// A machine with no work in flight, its breaker restored from `breaker`.
    public init(settings: DispatchSettings, breaker snapshot: BreakerSnapshot = .closed) {
        self.settings = settings
        self.breaker = CircuitBreaker(settings: settings.breaker, restoring: snapshot)
        self.bucket = TokenBucket(rate: settings.ratePerSecond, burst: settings.burst)
    }

    /// Work items admitted and not finished.
    public var inFlight: Int { claims.count }

    /// The phase of `task`'s work item, if it has one.
    public func phase(of task: TaskID) -> Phase? { claims[task]?.phase }

    /// How many due tasks to ask the store for now: free slots under `max_in_flight`, each with a
    /// token of the rate limit. The tokens stay taken until ``admit(_:now:)`` gives back the unused.
    public mutating func reserve(now: Date) -> Int {
        guard !isStopping else { return 0 }
        let free = settings.maxInFlight - claims.count - reserved
        var taken = 0
        while taken < free, bucket.take(now: now) { taken += 1 }
        reserved += taken
        return taken
    }

    /// Admits the due tasks the store handed out for the last ``reserve(now:)``: each needs a
    /// breaker permit. When the breaker refuses one, it and every later candidate go back (a
    /// candidate neither run nor put back would never be dispatched again). Tokens not used are
    /// given back.
    public mutating func admit(_ due: [WorkItem], now: Date) -> Admission {
        var admission = Admission()
        for (index, item) in due.enumerated() {
            guard !isStopping, claims[item.task] == nil else {
                admission.putBack.append(item.task)
                continue
            }
            let (permitted, transition) = breaker.acquire(now: now)
            if let transition { admission.transitions.append(transition) }
            guard permitted else {
                admission.putBack.append(contentsOf: due[index...].map(\.task))
                break
            }
            claims[item.task] = Claim(phase: .deciding, holdsPermit: true)
            let first: FirstStep = settings.confirmStatus || item.interrupted ? .checkStatus : .decide
            admission.run.append(Admitted(item: item, first: first))
        }
        bucket.giveBack(reserved - admission.run.count)
        reserved = 0
        return admission
    }

    /// The decision after the status check (`checked` is `nil` when none was made) is journaled;
    /// `verdict` is `nil` when the task had no open episode any more.
    ///
    /// - no verdict: the permit is released.
    /// - `later` (the check failed transiently): the check's result is recorded in the breaker.
    /// - `end`: a check that answered is recorded as a success; without a check, released.
    /// - `call`: the permit carries on to the retry call.
    public mutating func decided(
        _ task: TaskID, checked: HDPStatusOutcome?, verdict: StatusVerdict?, now: Date
    ) -> (next: AfterDecision, transition: BreakerSnapshot?) {
        guard claims[task] != nil else { return (.finished, nil) }
        switch verdict {
        case .none:
            return (.finished, finish(task, recording: nil, now: now))
        case .later:
            return (.finished, finish(task, recording: checked?.isBreakerFailure ?? false, now: now))
        case .end:
            return (.finished, finish(task, recording: checked == nil ? nil : false, now: now))
        case .call(let started):
            claims[task]?.phase = .starting(attempt: started.attempt)
            return (.awaitStart(attempt: started.attempt), nil)
        }
    }

    /// `attempt_started` is durable (`durable`), or could not be made durable.
    public mutating func started(_ task: TaskID, durable: Bool) -> AfterStart {
        guard let claim = claims[task], case .starting(let attempt) = claim.phase else { return .abandon }
        guard durable else {
            releasePermit(task)
            claims[task] = nil
            return .abandon
        }
        claims[task]?.phase = .calling(attempt: attempt)
        if settings.dryRun {
            releasePermit(task)
            return .dryRun(attempt: attempt)
        }
        return .send(attempt: attempt)
    }

    /// The retry call came back with `outcome` (`nil` in dry-run mode); records it in the breaker.
    public mutating func callFinished(_ task: TaskID, outcome: HDPCallOutcome?, now: Date) -> BreakerSnapshot? {
        guard claims[task] != nil else { return nil }
        return finish(task, recording: outcome?.isBreakerFailure, now: now)
    }

    /// Gives a work item up without a result (its task went back to the store, or the agent is
    /// stopping): the permit is released.
    public mutating func unclaim(_ task: TaskID) {
        guard claims[task] != nil else { return }
        releasePermit(task)
        claims[task] = nil
    }

    /// Takes on the breaker state another agent recorded in the shared store; returns whether it
    /// changed anything (see ``CircuitBreaker/adopt(_:)``). Nothing is journaled: the other agent
    /// did.
    @discardableResult
    public mutating func adoptBreaker(_ shared: BreakerSnapshot) -> Bool {
        breaker.adopt(shared)
    }

    /// Stops admitting work; what is in flight finishes.
    public mutating func beginStopping() {
        isStopping = true
    }

    /// Whether an HDP call outside the work items — a page of a reconciliation sweep's
    /// `GET /tasks` — may go out at `now`. It takes a token from the same bucket as the work items
    /// (one rate limit on everything the agent asks HDP), and is refused while the breaker holds
    /// calls back: open with its cool-down not over, or half-open (its probes decide). Its result
    /// is not recorded in the breaker: a list endpoint that fails must not stop retries.
    public mutating func permitListCall(now: Date) -> ListCallPermit {
        guard !isStopping else { return .stopping }
        switch breaker.state {
        case .halfOpen: return .breakerOpen
        case .open where (breaker.snapshot.openUntil ?? .distantFuture) > now: return .breakerOpen
        case .open, .closed: break
        }
        if bucket.take(now: now) { return .granted }
        return .wait(until: bucket.nextToken(now: now))
    }

    /// When to look for due work again, given the store's earliest due time.
    ///
    /// - nothing due: `nil` (a new episode or a finishing item wakes the loop).
    /// - due later: then, or when the breaker lets calls through again if that is later.
    /// - due now but held back: by `max_in_flight` → `nil` (a finishing item wakes the loop); by
    ///   the rate limit → the next token; by an open breaker → the end of its cool-down; by
    ///   half-open probes in flight → a second from now (a finishing probe wakes the loop sooner).
    public mutating func wakeAt(nextDue: Date?, now: Date) -> Date? {
        guard let due = nextDue, !isStopping else { return nil }
        let blocked = breaker.blockedUntil
        if due > now { return Swift.max(due, blocked ?? due) }
        if claims.count >= settings.maxInFlight { return nil }
        let token = bucket.nextToken(now: now)
        if token > now { return token }
        if let blocked, blocked > now { return blocked }
        return now.addingTimeInterval(1)
    }

    private mutating func finish(_ task: TaskID, recording failure: Bool?, now: Date) -> BreakerSnapshot? {
        defer { claims[task] = nil }
        guard claims[task]?.holdsPermit == true else { return nil }
        claims[task]?.holdsPermit = false
        guard let failure else {
            breaker.release()
            return nil
        }
        return breaker.record(failure: failure, now: now)
    }

    private mutating func releasePermit(_ task: TaskID) {
        guard claims[task]?.holdsPermit == true else { return }
        claims[task]?.holdsPermit = false
        breaker.release()
    }
}
