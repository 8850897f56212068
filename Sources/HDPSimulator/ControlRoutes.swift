import Foundation
import Hummingbird

/// The `/_sim/` control API: set up tasks, faults, the task list's shape and the failure
/// callbacks, read call counts, move time, reset. Bodies are JSON; errors are 400
/// `{"error": "..."}`.
struct ControlRoutes: Sendable {
    /// The state the control calls read and change.
    let state: SimulatorState

    /// Control bodies are small; a megabyte is plenty for thousands of tasks.
    private static let maxBodyBytes = 1 << 20

    /// Registers the control routes under `/_sim/`.
    func add(to router: Router<BasicRequestContext>) {
        let group = router.group("_sim")
        group.get("health") { _, _ in SimulatorWire.json(["status": "ok"], status: .ok) }
        group.post("tasks") { request, _ in
            try await handle {
                let specs = try TaskSpec.decodeList(from: try await body(of: request))
                try state.upsert(specs)
                return SimulatorWire.json(["upserted": specs.count], status: .ok)
            }
        }
        group.get("tasks") { _, _ in
            SimulatorWire.json(state.allTasks().map(SimulatorWire.TaskSummary.init), status: .ok)
        }
        group.get("calls") { _, _ in SimulatorWire.json(state.calls, status: .ok) }
        group.get("faults") { _, _ in SimulatorWire.json(state.faults, status: .ok) }
        group.put("faults") { request, _ in
            try await handle {
                let faults = try JSONDecoder().decode(SimulatorFaults.self, from: try await body(of: request))
                try state.setFaults(faults)
                return SimulatorWire.json(state.faults, status: .ok)
            }
        }
        group.get("list_shape") { _, _ in SimulatorWire.json(state.listShape, status: .ok) }
        group.put("list_shape") { request, _ in
            try await handle {
                let shape = try JSONDecoder().decode(SimulatorListShape.self, from: try await body(of: request))
                try state.setListShape(shape)
                return SimulatorWire.json(state.listShape, status: .ok)
            }
        }
        group.get("webhooks") { _, _ in webhooks() }
        group.put("webhooks") { request, _ in
            try await handle {
                let data = try await body(of: request)
                let control =
                    data.isEmpty ? CallbackControl() : try JSONDecoder().decode(CallbackControl.self, from: data)
                try state.setWebhooks(control)
                return webhooks()
            }
        }
        group.post("advance") { request, _ in
            try await handle {
                let data = try await body(of: request)
                let advance =
                    data.isEmpty
                    ? SimulatorWire.Advance() : try JSONDecoder().decode(SimulatorWire.Advance.self, from: data)
                let offset = state.advance(by: advance.ms.map { Double($0) / 1000 })
                return SimulatorWire.json(["offset_ms": Int((offset * 1000).rounded())], status: .ok)
            }
        }
        group.post("reset") { _, _ in
            try await handle {
                try state.reset()
                return SimulatorWire.json(["reset": true], status: .ok)
            }
        }
    }

    private func webhooks() -> Response {
        let body = state.withModel { model, _ in
            SimulatorWire.Webhooks(
                settings: model.webhooks, signed: state.configuration.webhookSigner != nil,
                counts: model.calls.webhooks, log: model.webhookLog)
        }
        return SimulatorWire.json(body, status: .ok)
    }

    private func body(of request: Request) async throws -> Data {
        let buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
        return Data(buffer.readableBytesView)
    }

    /// Runs a control action, turning bad input into a 400 that says what was wrong.
    private func handle(_ action: () async throws -> Response) async throws -> Response {
        do {
            return try await action()
        } catch let error as SimulatorError {
            return SimulatorWire.json(["error": error.message], status: .badRequest)
        } catch let error as DecodingError {
            return SimulatorWire.json(["error": "invalid JSON: \(Self.describe(error))"], status: .badRequest)
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing key \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            context.codingPath.isEmpty
                ? context.debugDescription
                : "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        @unknown default: "unreadable body"
        }
    }
}
