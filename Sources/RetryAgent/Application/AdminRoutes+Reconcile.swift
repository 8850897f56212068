import Hummingbird
import RetryCore

extension AdminRoutes {
    /// `POST /-/reconcile`: runs a sweep now (or right after the one running) and answers its
    /// report (``ReconcileAnswer``).
    func reconcileNow() async -> Response {
        guard let reconcile, let outcome = await reconcile() else {
            return JSONAnswer.error(.serviceUnavailable, "the journal is not replayed yet")
        }
        switch outcome {
        case .swept(let report):
            let answer = ReconcileAnswer(report)
            return JSONAnswer.response(answer.status, answer)
        case .stopping:
            return JSONAnswer.error(.serviceUnavailable, "the agent is stopping", headers: [.retryAfter: "30"])
        }
    }
}
