import Foundation

/// Everything the simulator starts with. `POST /_sim/reset` returns to exactly this state.
public struct SimulatorConfiguration: Sendable {
    /// The address to listen on (`127.0.0.1`; port 0 picks a free port).
    public var host: String
    /// The port to listen on; 0 lets the system choose (see ``RunningSimulator/port``).
    public var port: Int
    /// The `X-API-KEY` value the retry endpoint accepts.
    public var apiKey: String
    /// Seed of the generator behind random faults, so that runs are reproducible.
    public var seed: UInt64
    /// Tasks present at start (and after a reset).
    public var tasks: [TaskSpec]
    /// Faults in force at start (and after a reset).
    public var faults: SimulatorFaults
    /// The simulator's clock; tests inject a fixed or manual one. `POST /_sim/advance` moves
    /// simulator time ahead of it.
    public var clock: @Sendable () -> Date
    /// How `GET /tasks` spells its answer at start (and after a reset).
    public var listShape: SimulatorListShape
    /// Where HDP's failure callbacks go (an `http://` URL, like the `webhook_url` given to HDP at
    /// task creation); `nil` sends none.
    public var webhookURL: String?
    /// Signs each callback, when set (see ``CallbackSigner``); HDP itself signs nothing.
    public var webhookSigner: CallbackSigner?
    /// How long one callback delivery may take, connection included, before it counts as failed.
    public var webhookTimeout: Duration

    /// Creates a configuration; the defaults are a well-behaved, empty HDP on a free port that
    /// sends no callbacks.
    public init(
        host: String = "127.0.0.1", port: Int = 0, apiKey: String = "hdp-sim-key", seed: UInt64 = 1,
        tasks: [TaskSpec] = [], faults: SimulatorFaults = .none, clock: @escaping @Sendable () -> Date = { Date() },
        listShape: SimulatorListShape = .standard, webhookURL: String? = nil, webhookSigner: CallbackSigner? = nil,
        webhookTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.seed = seed
        self.tasks = tasks
        self.faults = faults
        self.clock = clock
        self.listShape = listShape
        self.webhookURL = webhookURL
        self.webhookSigner = webhookSigner
        self.webhookTimeout = webhookTimeout
    }
}
