import Foundation
import Synchronization

/// The running simulator's state: a ``SimulatorModel`` behind a lock, plus the clock. Shared by
/// the routes and by tests, which inspect it directly instead of going through `/_sim/`.
///
/// A `Mutex` rather than an actor: every operation is short and synchronous, and the routes must
/// not hold anything across the injected latency.
///
/// Failure callbacks the model comes to owe are handed, in order and under the lock, to an
/// `AsyncStream` that the application's webhook sender reads (one sender per state), so no route
/// ever waits for a delivery.
public final class SimulatorState: Sendable {
    private let model: Mutex<SimulatorModel>
    /// The configuration the state was built from and resets to.
    public let configuration: SimulatorConfiguration
    /// Callbacks owed, oldest first, for the webhook sender.
    let notices: AsyncStream<CallbackNotice>
    private let noticeSink: AsyncStream<CallbackNotice>.Continuation

    /// How many callbacks may wait for the sender; more are counted as failed ("queue full"),
    /// so a stalled receiver costs bounded memory.
    static let noticeQueueLimit = 10_000

    /// Builds the start-up state; throws when a configured task, fault set, list shape or webhook
    /// URL is invalid.
    public init(configuration: SimulatorConfiguration) throws {
        self.configuration = configuration
        let initial = try Self.initialModel(configuration)
        self.model = Mutex(initial)
        (notices, noticeSink) = AsyncStream.makeStream(
            of: CallbackNotice.self, bufferingPolicy: .bufferingOldest(Self.noticeQueueLimit))
    }

    deinit {
        noticeSink.finish()
    }

    private static func initialModel(_ configuration: SimulatorConfiguration) throws -> SimulatorModel {
        try SimulatorModel(
            apiKey: configuration.apiKey, seed: configuration.seed, faults: configuration.faults,
            tasks: configuration.tasks, now: configuration.clock(), listShape: configuration.listShape,
            webhookURL: configuration.webhookURL)
    }

    /// Simulator time: the injected clock plus whatever `advance` added.
    public var now: Date {
        let offset = model.withLock { $0.clockOffset }
        return configuration.clock().addingTimeInterval(offset)
    }

    /// Runs `body` on the model at the current simulator time, then hands the callbacks it came to
    /// owe to the webhook sender.
    public func withModel<T>(_ body: (inout SimulatorModel, Date) throws -> T) rethrows -> T {
        let clock = configuration.clock()
        return try model.withLock { model in
            defer { handOver(&model) }
            return try body(&model, clock.addingTimeInterval(model.clockOffset))
        }
    }

    /// Queues the model's new callbacks for the sender; one the queue cannot take is a failed
    /// delivery, never a blocked request.
    private func handOver(_ model: inout SimulatorModel) {
        for notice in model.takeOutbox() {
            switch noticeSink.yield(notice) {
            case .enqueued: continue
            case .dropped: model.recordDelivery(of: notice, .failed(reason: "queue full"))
            case .terminated: model.recordDelivery(of: notice, .failed(reason: "sender stopped"))
            @unknown default: model.recordDelivery(of: notice, .failed(reason: "not queued"))
            }
        }
    }

    /// The call counts so far.
    public var calls: SimulatorCallCounts { model.withLock { $0.calls } }

    /// The faults in force (rate-limit counts as they count down).
    public var faults: SimulatorFaults { model.withLock { $0.faults } }

    /// The shape `GET /tasks` answers in.
    public var listShape: SimulatorListShape { model.withLock { $0.listShape } }

    /// Where failure callbacks go and which are lost on purpose.
    public var webhooks: CallbackSettings { model.withLock { $0.webhooks } }

    /// What became of the most recent failure callbacks, oldest first.
    public var webhookLog: [CallbackRecord] { model.withLock { $0.webhookLog } }

    /// The task with `id` (case-insensitive) as it is now, queued re-runs settled.
    public func task(_ id: String) -> SimulatedTask? {
        withModel { model, now in
            model.settle(now: now)
            return model.task(id)
        }
    }

    /// Every task as it is now, sorted by id.
    public func allTasks() -> [SimulatedTask] {
        withModel { model, now in
            model.settle(now: now)
            return model.tasks.values.sorted { $0.id < $1.id }
        }
    }

    /// Creates or replaces tasks, all or none.
    public func upsert(_ specs: [TaskSpec]) throws {
        try withModel { model, now in
            var copy = model
            for spec in specs { try copy.upsert(spec, now: now) }
            model = copy
        }
    }

    /// Replaces the fault set.
    public func setFaults(_ faults: SimulatorFaults) throws {
        try withModel { model, now in try model.setFaults(faults, now: now) }
    }

    /// Replaces the shape `GET /tasks` answers in.
    public func setListShape(_ shape: SimulatorListShape) throws {
        try withModel { model, _ in try model.setListShape(shape) }
    }

    /// Replaces the callback drop settings, and the target when `control` names one.
    public func setWebhooks(_ control: CallbackControl) throws {
        try withModel { model, _ in try model.setWebhooks(control) }
    }

    /// Whether `notice` was queued since the last reset (older ones are not delivered).
    func isCurrent(_ notice: CallbackNotice) -> Bool {
        model.withLock { $0.isCurrent(notice) }
    }

    /// Counts how a delivery of `notice` ended.
    func recordDelivery(of notice: CallbackNotice, _ result: CallbackDeliveryResult) {
        model.withLock { $0.recordDelivery(of: notice, result) }
    }

    /// Settles the re-runs due by now, as HDP's workers would without anyone asking, so that a
    /// task failing again sends its callback on time.
    func settleDue() {
        withModel { model, now in model.settle(now: now) }
    }

    /// Moves simulator time forward (see ``SimulatorModel/advance(by:now:)``) and settles
    /// whatever became due; returns the total offset in seconds.
    @discardableResult
    public func advance(by seconds: TimeInterval?) -> TimeInterval {
        withModel { model, now in
            let before = model.clockOffset
            let offset = model.advance(by: seconds, now: now)
            model.settle(now: now.addingTimeInterval(offset - before))
            return offset
        }
    }

    /// Returns to the start-up state: configured tasks, faults, list shape and callback target,
    /// zero counts, the seed again. Callbacks still queued from before are not delivered, and
    /// deliveries in flight are not counted.
    public func reset() throws {
        var fresh = try Self.initialModel(configuration)
        model.withLock { model in
            fresh.generation = model.generation + 1
            model = fresh
        }
    }
}
