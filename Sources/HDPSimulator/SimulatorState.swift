import Foundation
import Synchronization

/// The running simulator's state: a ``SimulatorModel`` behind a lock, plus the clock. Shared by
/// the routes and by tests, which inspect it directly instead of going through `/_sim/`.
///
/// A `Mutex` rather than an actor: every operation is short and synchronous, and the routes must
/// not hold anything across the injected latency.
public final class SimulatorState: Sendable {
    private let model: Mutex<SimulatorModel>
    /// The configuration the state was built from and resets to.
    public let configuration: SimulatorConfiguration

    /// Builds the start-up state; throws when a configured task, fault set or list shape is invalid.
    public init(configuration: SimulatorConfiguration) throws {
        self.configuration = configuration
        let initial = try Self.initialModel(configuration)
        self.model = Mutex(initial)
    }

    private static func initialModel(_ configuration: SimulatorConfiguration) throws -> SimulatorModel {
        try SimulatorModel(
            apiKey: configuration.apiKey, seed: configuration.seed, faults: configuration.faults,
            tasks: configuration.tasks, now: configuration.clock(), listShape: configuration.listShape)
    }

    /// Simulator time: the injected clock plus whatever `advance` added.
    public var now: Date {
        let offset = model.withLock { $0.clockOffset }
        return configuration.clock().addingTimeInterval(offset)
    }

    /// Runs `body` on the model at the current simulator time.
    public func withModel<T>(_ body: (inout SimulatorModel, Date) throws -> T) rethrows -> T {
        let clock = configuration.clock()
        return try model.withLock { model in
            try body(&model, clock.addingTimeInterval(model.clockOffset))
        }
    }

    /// The call counts so far.
    public var calls: SimulatorCallCounts { model.withLock { $0.calls } }

    /// The faults in force (rate-limit counts as they count down).
    public var faults: SimulatorFaults { model.withLock { $0.faults } }

    /// The shape `GET /tasks` answers in.
    public var listShape: SimulatorListShape { model.withLock { $0.listShape } }

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

    /// Moves simulator time forward (see ``SimulatorModel/advance(by:now:)``) and settles
    /// whatever became due; returns the total offset in seconds.
    @discardableResult
    public func advance(by seconds: TimeInterval?) -> TimeInterval {
        let clock = configuration.clock()
        return model.withLock { model in
            let offset = model.advance(by: seconds, now: clock.addingTimeInterval(model.clockOffset))
            model.settle(now: clock.addingTimeInterval(offset))
            return offset
        }
    }

    /// Returns to the start-up state: configured tasks, faults and list shape, zero counts, the seed
    /// again.
    public func reset() throws {
        let fresh = try Self.initialModel(configuration)
        model.withLock { $0 = fresh }
    }
}
