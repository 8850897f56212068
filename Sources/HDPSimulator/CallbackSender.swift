import Foundation
import Logging
import ServiceLifecycle

/// Delivers HDP's failure callbacks, and settles queued re-runs as they fall due so that a task
/// failing again calls back on time even when nobody polls it.
///
/// A service of the simulator application: it reads the callbacks ``SimulatorState`` queues, at
/// most ``maxInFlight`` deliveries at once, each bounded by the configured timeout. A delivery is
/// tried once — HDP documents no redelivery — and whatever becomes of it (2xx, another status, no
/// answer) is counted, never thrown. On graceful shutdown it takes no new callbacks and lets the
/// ones in flight finish; on cancellation it stops at once.
struct CallbackSender: Service, CustomStringConvertible {
    /// The state whose callbacks it delivers.
    let state: SimulatorState
    /// Where deliveries are logged.
    let logger: Logger

    /// Deliveries at once: enough that one slow receiver does not hold up a burst of failures.
    static let maxInFlight = 8
    /// How often due re-runs are settled.
    static let settleInterval = Duration.milliseconds(50)

    /// The name service-lifecycle logs it under.
    var description: String { "CallbackSender" }

    /// Runs until graceful shutdown or cancellation.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await settleLoop() }
            await deliverAll()
            group.cancelAll()
        }
    }

    private func settleLoop() async {
        while !Task.isCancelled {
            state.settleDue()
            do {
                try await Task.sleep(for: Self.settleInterval)
            } catch {
                return
            }
        }
    }

    private func deliverAll() async {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for await notice in state.notices.cancelOnGracefulShutdown() {
                if inFlight == Self.maxInFlight {
                    await group.next()
                    inFlight -= 1
                }
                guard state.isCurrent(notice) else { continue }
                inFlight += 1
                group.addTask { await deliver(notice) }
            }
        }
    }

    private func deliver(_ notice: CallbackNotice) async {
        let body = SimulatorWire.webhookBody(notice)
        var headers: CallbackHeaders = []
        if let signer = state.configuration.webhookSigner {
            // The receiver checks the signature's age against its own wall clock, so this is the
            // configured clock without the simulated offset.
            let timestamp = Int64(state.configuration.clock().timeIntervalSince1970.rounded(.down))
            headers = signer(body, notice.id, timestamp)
        }
        let result: CallbackDeliveryResult
        do {
            let status = try await CallbackHTTPClient.post(
                body, headers: headers, to: notice.target, timeout: state.configuration.webhookTimeout)
            result = .answered(status: status)
        } catch {
            result = .failed(reason: CallbackHTTPClient.describe(error))
        }
        state.recordDelivery(of: notice, result)
        var metadata: Logger.Metadata = [
            "task_id": .string(notice.taskID), "webhook_id": .string(notice.id),
            "hdp_status": .string(notice.status),
        ]
        switch result {
        case .answered(let status):
            metadata["http_status"] = .stringConvertible(status)
            logger.log(level: (200..<300).contains(status) ? .info : .warning, "webhook delivered", metadata: metadata)
        case .failed(let reason):
            metadata["error"] = .string(reason)
            logger.warning("webhook delivery failed", metadata: metadata)
        }
    }
}
