import Foundation
import Hummingbird
import Logging

/// Builds the simulator's router: the HDP endpoints (with faults) and the `/_sim/` control API
/// (never faulted). Exposed so tests can drive it with `app.test(.router)`.
public func buildSimulatorRouter(state: SimulatorState) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    let hdp = HDPRoutes(state: state)
    router.get("/tasks") { request, context in
        try await hdp.list(request: request, context: context)
    }
    router.post("/tasks/:id/retry") { request, context in
        try await hdp.serve(.retry, request: request, context: context)
    }
    router.get("/tasks/:id/status") { request, context in
        try await hdp.serve(.status, request: request, context: context)
    }
    router.get("/tasks/:id/state_transitions") { request, context in
        try await hdp.serve(.stateTransitions, request: request, context: context)
    }
    ControlRoutes(state: state).add(to: router)
    return router
}

/// The HDP endpoints, answering exactly as HDP documents them.
struct HDPRoutes: Sendable {
    /// The state the endpoints read and change.
    let state: SimulatorState

    /// Counts the call, applies faults and latency, then answers as HDP would.
    func serve(_ endpoint: SimulatorEndpoint, request: Request, context: BasicRequestContext) async throws -> Response {
        let taskID = try context.parameters.require("id")
        let admission = state.withModel { model, now in model.admit(endpoint, taskID: taskID, now: now) }
        if admission.latency > .zero {
            try await Task.sleep(for: admission.latency)
        }
        let response: Response
        if let fault = admission.fault {
            response = Self.faultResponse(fault)
        } else {
            switch endpoint {
            case .retry:
                response = retry(taskID, apiKey: request.headers.first { $0.name.canonicalName == "x-api-key" }?.value)
            // The list is served by `list(request:context:)`, never through here.
            case .status, .stateTransitions, .list: response = read(endpoint, taskID)
            }
        }
        context.logger.log(
            level: endpoint == .retry ? .info : .debug, "HDP call",
            metadata: [
                "hdp_endpoint": .string(endpoint.rawValue), "task_id": .string(taskID),
                "http_status": .stringConvertible(response.status.code),
                "fault": .stringConvertible(admission.fault != nil),
            ])
        return response
    }

    /// Serves `GET /tasks`: counts the call, applies faults and latency, then answers with the
    /// page asked for, or 400 when `hdp_tasks_page` or `hdp_tasks_per_page` is not a number in
    /// range.
    func list(request: Request, context: BasicRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        let query = Result { () throws(SimulatorError) in
            try TaskListQuery(
                page: parameters.get("hdp_tasks_page"), perPage: parameters.get("hdp_tasks_per_page"),
                search: parameters.get("hdp_tasks_search"))
        }
        let admission = state.withModel { model, now in
            model.admitList(page: try? query.get().page, now: now)
        }
        if admission.latency > .zero {
            try await Task.sleep(for: admission.latency)
        }
        let response: Response
        if let fault = admission.fault {
            response = Self.faultResponse(fault)
        } else {
            switch query {
            case .failure(let error):
                state.withModel { model, _ in model.rejectList() }
                response = SimulatorWire.json(["error": error.message], status: .badRequest)
            case .success(let query):
                let (page, shape) = state.withModel { model, now in (model.list(query, now: now), model.listShape) }
                response = SimulatorWire.json(SimulatorWire.TaskList(page: page, shape: shape), status: .ok)
            }
        }
        context.logger.debug(
            "HDP call",
            metadata: [
                "hdp_endpoint": .string(SimulatorEndpoint.list.rawValue),
                "http_status": .stringConvertible(response.status.code),
                "fault": .stringConvertible(admission.fault != nil),
            ])
        return response
    }

    private static func faultResponse(_ fault: FaultResponse) -> Response {
        var headers = HTTPFields()
        if let retryAfter = fault.retryAfter { headers[.retryAfter] = retryAfter }
        return SimulatorWire.json(["error": fault.message], status: .init(code: fault.status), headers: headers)
    }

    private func retry(_ taskID: String, apiKey: String?) -> Response {
        let result = state.withModel { model, now in model.retry(taskID: taskID, apiKey: apiKey, now: now) }
        switch result {
        case .unauthorized:
            return SimulatorWire.json(["error": SimulatorWire.unauthorizedMessage], status: .unauthorized)
        case .notFound:
            return SimulatorWire.json(["error": "Task not found", "uuid": taskID], status: .notFound)
        case .rejected(let details):
            return SimulatorWire.json(
                ["error": "Cannot retry decommitment", "details": details], status: .badRequest)
        case .accepted:
            return SimulatorWire.json(
                ["message": "Task has been queued for retry", "status": "accepted", "uuid": taskID], status: .ok)
        }
    }

    private func read(_ endpoint: SimulatorEndpoint, _ taskID: String) -> Response {
        guard let task = state.withModel({ model, now in model.read(endpoint, taskID: taskID, now: now) }) else {
            return SimulatorWire.json(["error": "Task not found", "taskId": taskID], status: .notFound)
        }
        if endpoint == .status {
            let body = SimulatorWire.Status(
                taskId: task.id, status: task.status, errorMessage: task.errorMessage, updatedAt: task.updatedAt)
            return SimulatorWire.json(body, status: .ok)
        }
        return SimulatorWire.json(
            SimulatorWire.Transitions(taskId: task.id, transitions: task.transitions), status: .ok)
    }
}
