import Foundation

/// Where HDP's failure callbacks go and which of them are lost on purpose, as
/// `PUT /_sim/webhooks` sets it.
public struct CallbackSettings: Sendable, Hashable {
    /// Where callbacks are POSTed; `nil` sends none and counts none, as HDP does for a task created
    /// without a `webhook_url`.
    public var target: CallbackTarget?
    /// Lose every callback (counted as dropped, never sent) until switched off.
    public var drop: Bool
    /// Lose the next this many callbacks, counting down.
    public var dropNext: Int

    /// Creates settings; the defaults send every callback to `target`.
    public init(target: CallbackTarget? = nil, drop: Bool = false, dropNext: Int = 0) {
        self.target = target
        self.drop = drop
        self.dropNext = dropNext
    }
}

/// A `PUT /_sim/webhooks` body: `{"drop": true|false, "drop_next": N, "url": "http://…"|null}`.
///
/// `drop` and `drop_next` are replaced (absent is `false` and `0`), like the fault set; `url` is
/// replaced only when present (`null` stops the callbacks), so a scenario can lose callbacks
/// without knowing where they go.
public struct CallbackControl: Sendable, Hashable, Decodable {
    /// Whether to lose every callback.
    public var drop: Bool
    /// How many of the next callbacks to lose.
    public var dropNext: Int
    /// The new target: absent keeps the current one, `.some(nil)` stops the callbacks.
    public var url: String??

    /// Creates a control request.
    public init(drop: Bool = false, dropNext: Int = 0, url: String?? = nil) {
        self.drop = drop
        self.dropNext = dropNext
        self.url = url
    }

    enum CodingKeys: String, CodingKey {
        case drop
        case dropNext = "drop_next"
        case url
    }

    /// Decodes leniently, telling an absent `url` from a `null` one.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.drop = try container.decodeIfPresent(Bool.self, forKey: .drop) ?? false
        self.dropNext = try container.decodeIfPresent(Int.self, forKey: .dropNext) ?? 0
        if container.contains(.url) {
            self.url = .some(
                try container.decodeNil(forKey: .url) ? nil : try container.decode(String.self, forKey: .url))
        } else {
            self.url = nil
        }
    }
}

/// One failure callback HDP owes the agent: the task entered a `…Failed` status.
public struct CallbackNotice: Sendable, Hashable {
    /// A unique delivery id, `msg_` and 27 letters and digits (the Standard Webhooks / Svix
    /// shape); sent as `webhook-id` when deliveries are signed. Unique across resets and runs, so
    /// that an agent's deduplication never mistakes a new failure for a redelivery.
    public var id: String
    /// The task that failed, as it was created.
    public var taskID: String
    /// The failed status.
    public var status: String
    /// The error it failed with.
    public var error: String?
    /// When it failed (simulator time): the callback's `timestamp`.
    public var failedAt: Date
    /// Where to deliver it.
    public var target: CallbackTarget
    /// The model generation it belongs to; a reset starts a new one, and outcomes of callbacks
    /// from before it are not counted.
    public var generation: Int
}

/// What became of one callback, for `GET /_sim/webhooks`.
public struct CallbackRecord: Sendable, Hashable {
    /// The three ends of a callback.
    public enum Outcome: String, Sendable, Hashable, Encodable {
        /// Answered with a 2xx.
        case sent
        /// Lost on purpose.
        case dropped
        /// Not delivered (see ``reason``).
        case failed
    }

    /// The notice's delivery id.
    public var id: String
    /// The task that failed.
    public var taskID: String
    /// Its failed status.
    public var status: String
    /// What became of it.
    public var outcome: Outcome
    /// The receiver's status code, when it answered.
    public var httpStatus: Int?
    /// Why a delivery failed, in a few words.
    public var reason: String?
}

/// How a delivery attempt ended, as the sender reports it to the model.
public enum CallbackDeliveryResult: Sendable, Hashable {
    /// The receiver answered; only a 2xx counts as sent.
    case answered(status: Int)
    /// No answer: connection refused or lost, timeout, queue full.
    case failed(reason: String)
}

/// HDP's failure callbacks, as operations on the model.
extension SimulatorModel {
    /// How many callback records ``webhookLog`` keeps.
    public static let webhookLogLimit = 100

    /// Replaces the drop settings, and the target when the control names one.
    public mutating func setWebhooks(_ control: CallbackControl) throws(SimulatorError) {
        guard control.dropNext >= 0 else { throw SimulatorError.invalidBody("drop_next must not be negative") }
        var settings = webhooks
        switch control.url {
        case .none: break
        case .some(.none): settings.target = nil
        case .some(.some(let url)): settings.target = try CallbackTarget(parsing: url)
        }
        settings.drop = control.drop
        settings.dropNext = control.dropNext
        webhooks = settings
    }

    /// Owes a callback for the task under `key`, which has just entered a failed status: queued
    /// for delivery, or dropped when the settings say so. Nothing when no target is set.
    mutating func announceFailure(of key: String) {
        guard let target = webhooks.target, let task = tasks[key] else { return }
        let notice = CallbackNotice(
            id: nextWebhookID(), taskID: task.id, status: task.status, error: task.error, failedAt: task.updatedAt,
            target: target, generation: generation)
        if webhooks.drop || webhooks.dropNext > 0 {
            if !webhooks.drop { webhooks.dropNext -= 1 }
            calls.webhooks.dropped += 1
            log(notice, .dropped, httpStatus: nil, reason: nil)
            return
        }
        calls.webhooks.pending += 1
        outbox.append(notice)
    }

    /// Hands over the callbacks queued since the last call, oldest first.
    mutating func takeOutbox() -> [CallbackNotice] {
        defer { outbox.removeAll() }
        return outbox
    }

    /// Whether `notice` still belongs to this model (no reset since it was queued).
    public func isCurrent(_ notice: CallbackNotice) -> Bool { notice.generation == generation }

    /// Counts how a delivery of `notice` ended: a 2xx is sent, anything else failed. Outcomes of
    /// callbacks queued before a reset are ignored, so a reset leaves clean counts.
    public mutating func recordDelivery(of notice: CallbackNotice, _ result: CallbackDeliveryResult) {
        guard isCurrent(notice) else { return }
        calls.webhooks.pending = max(0, calls.webhooks.pending - 1)
        switch result {
        case .answered(let status) where (200..<300).contains(status):
            calls.webhooks.sent += 1
            log(notice, .sent, httpStatus: status, reason: nil)
        case .answered(let status):
            calls.webhooks.failed += 1
            log(notice, .failed, httpStatus: status, reason: "answered \(status)")
        case .failed(let reason):
            calls.webhooks.failed += 1
            log(notice, .failed, httpStatus: nil, reason: reason)
        }
    }

    private mutating func log(
        _ notice: CallbackNotice, _ outcome: CallbackRecord.Outcome, httpStatus: Int?, reason: String?
    ) {
        webhookLog.append(
            CallbackRecord(
                id: notice.id, taskID: notice.taskID, status: notice.status, outcome: outcome, httpStatus: httpStatus,
                reason: reason))
        if webhookLog.count > Self.webhookLogLimit { webhookLog.removeFirst(webhookLog.count - Self.webhookLogLimit) }
    }

    /// `msg_`, this model's random prefix and the notice number in base 62 (9 digits).
    private mutating func nextWebhookID() -> String {
        defer { nextWebhookNumber += 1 }
        var number = nextWebhookNumber
        var digits = [Character](repeating: "0", count: 9)
        for index in digits.indices.reversed() {
            digits[index] = CallbackIDAlphabet.characters[number % 62]
            number /= 62
        }
        return "msg_" + webhookIDPrefix + String(digits)
    }
}

/// The letters and digits of webhook ids.
enum CallbackIDAlphabet {
    /// `0-9A-Za-z`.
    static let characters = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// 18 random characters from the system generator: the part of an id that keeps two models
    /// (a reset, a restart) from ever spelling the same id.
    static func randomPrefix() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<18).map { _ in characters[Int.random(in: 0..<62, using: &generator)] })
    }
}
