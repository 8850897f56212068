import Foundation
import Hummingbird
import Logging

/// Builds the simulator as a Hummingbird application listening on the configured address, with
/// the service that delivers its failure callbacks and settles re-runs as they fall due. Run one
/// application per state: the callbacks are queued for a single sender.
/// `onServerRunning` receives the bound port (useful with port 0).
public func buildSimulatorApplication(
    state: SimulatorState, logger: Logger = Logger(label: "hdp-sim"),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildSimulatorRouter(state: state),
        configuration: .init(
            address: .hostname(state.configuration.host, port: state.configuration.port), serverName: "hdp-sim"),
        services: [CallbackSender(state: state, logger: logger)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
        logger: logger
    )
}

/// A simulator listening on loopback, handed to the body of ``HDPSimulator/withRunning(configuration:logger:_:)``.
public struct RunningSimulator: Sendable {
    /// The port it is bound to.
    public let port: Int
    /// Its state, for direct inspection and control.
    public let state: SimulatorState

    /// `http://HOST:PORT`, the base URL to give an HDP client.
    public var baseURL: String { "http://\(state.configuration.host):\(port)" }
}

/// Entry points for embedding the simulator.
public enum HDPSimulator {
    /// Starts a simulator, runs `body` with it, and stops it when `body` returns or throws.
    ///
    /// Structured on purpose: the server lives in a child task of this call, so it cannot outlive
    /// the test that started it. Stopping cancels the server, including calls still sleeping in
    /// injected latency.
    public static func withRunning<T>(
        configuration: SimulatorConfiguration = .init(), logger: Logger = Logger(label: "hdp-sim"),
        _ body: (RunningSimulator) async throws -> T
    ) async throws -> T {
        let state = try SimulatorState(configuration: configuration)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildSimulatorApplication(state: state, logger: logger) { port in
            continuation.yield(port)
            continuation.finish()
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { continuation.finish() }
                try await app.run()
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else {
                try await group.next()
                throw SimulatorError.startFailed("the server stopped before it was listening")
            }
            defer { group.cancelAll() }
            return try await body(RunningSimulator(port: port, state: state))
        }
    }
}
