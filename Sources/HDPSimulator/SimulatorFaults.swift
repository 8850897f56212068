/// The misbehaviour the simulator adds to the HDP endpoints, and its workflow settings.
///
/// `PUT /_sim/faults` replaces the whole set (absent keys switch a fault off), so a scenario
/// always states everything it relies on. The JSON keys are snake_case:
///
/// ```json
/// {"error_rate": 0.2, "error_status": 503, "latency_ms": 50,
///  "rate_limit": {"count": 3, "retry_after": 2, "http_date": false},
///  "outage": false, "outage_ms": 10000, "fail_again": 1, "progress_after_ms": 2000,
///  "endpoints": ["retry", "status", "state_transitions", "list"]}
/// ```
///
/// A call meets the faults in this order: latency, outage (503), rate limit (429), random error.
/// Only calls to the `endpoints` listed meet them; the others are served as if there were no
/// faults, and neither count down a rate limit nor draw from the seeded generator.
public struct SimulatorFaults: Sendable, Hashable, Codable {
    /// Probability (0–1) that a call is answered with `errorStatus` instead of being served.
    public var errorRate: Double
    /// The status code of a random error (default 503).
    public var errorStatus: Int
    /// Added to every call before it is answered, in milliseconds.
    public var latencyMilliseconds: Int
    /// Answer with 429 (see ``RateLimitFault``).
    public var rateLimit: RateLimitFault?
    /// Every call is 503 until the faults are replaced.
    public var outage: Bool
    /// Every call is 503 for this many milliseconds after the faults were set.
    public var outageMilliseconds: Int?
    /// How many times a re-run fails again, for tasks that do not say.
    public var failAgain: Int
    /// How long after an accepted retry the re-run settles; `nil` leaves tasks at `Received`.
    public var progressAfterMilliseconds: Int?
    /// The endpoints the faults above (latency included) apply to. Defaults to
    /// ``defaultEndpoints``, the three per-task endpoints, which is what every fault set meant
    /// before the task list existed: a scenario that limits "the next 3 calls" keeps meaning the
    /// next 3 retry or status calls when the agent also pages the list.
    public var endpoints: Set<SimulatorEndpoint>

    /// The endpoints faults apply to when a fault set does not say: all but the task list.
    public static let defaultEndpoints: Set<SimulatorEndpoint> = [.retry, .status, .stateTransitions]

    /// Creates a fault set; the defaults are a well-behaved HDP.
    public init(
        errorRate: Double = 0, errorStatus: Int = 503, latencyMilliseconds: Int = 0,
        rateLimit: RateLimitFault? = nil, outage: Bool = false, outageMilliseconds: Int? = nil,
        failAgain: Int = 0, progressAfterMilliseconds: Int? = nil,
        endpoints: Set<SimulatorEndpoint> = defaultEndpoints
    ) {
        self.errorRate = errorRate
        self.errorStatus = errorStatus
        self.latencyMilliseconds = latencyMilliseconds
        self.rateLimit = rateLimit
        self.outage = outage
        self.outageMilliseconds = outageMilliseconds
        self.failAgain = failAgain
        self.progressAfterMilliseconds = progressAfterMilliseconds
        self.endpoints = endpoints
    }

    /// No faults at all.
    public static let none = SimulatorFaults()

    enum CodingKeys: String, CodingKey {
        case errorRate = "error_rate"
        case errorStatus = "error_status"
        case latencyMilliseconds = "latency_ms"
        case rateLimit = "rate_limit"
        case outage
        case outageMilliseconds = "outage_ms"
        case failAgain = "fail_again"
        case progressAfterMilliseconds = "progress_after_ms"
        case endpoints
    }

    /// Writes every key, absent optionals left out and `endpoints` in workflow order, so that
    /// `GET /_sim/faults` is stable byte for byte.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(errorRate, forKey: .errorRate)
        try container.encode(errorStatus, forKey: .errorStatus)
        try container.encode(latencyMilliseconds, forKey: .latencyMilliseconds)
        try container.encodeIfPresent(rateLimit, forKey: .rateLimit)
        try container.encode(outage, forKey: .outage)
        try container.encodeIfPresent(outageMilliseconds, forKey: .outageMilliseconds)
        try container.encode(failAgain, forKey: .failAgain)
        try container.encodeIfPresent(progressAfterMilliseconds, forKey: .progressAfterMilliseconds)
        try container.encode(endpoints.sorted(), forKey: .endpoints)
    }

    /// Decodes leniently: every key is optional and takes the well-behaved default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            errorRate: try container.decodeIfPresent(Double.self, forKey: .errorRate) ?? 0,
            errorStatus: try container.decodeIfPresent(Int.self, forKey: .errorStatus) ?? 503,
            latencyMilliseconds: try container.decodeIfPresent(Int.self, forKey: .latencyMilliseconds) ?? 0,
            rateLimit: try container.decodeIfPresent(RateLimitFault.self, forKey: .rateLimit),
            outage: try container.decodeIfPresent(Bool.self, forKey: .outage) ?? false,
            outageMilliseconds: try container.decodeIfPresent(Int.self, forKey: .outageMilliseconds),
            failAgain: try container.decodeIfPresent(Int.self, forKey: .failAgain) ?? 0,
            progressAfterMilliseconds: try container.decodeIfPresent(Int.self, forKey: .progressAfterMilliseconds),
            endpoints: try container.decodeIfPresent(Set<SimulatorEndpoint>.self, forKey: .endpoints)
                ?? Self.defaultEndpoints
        )
    }

    /// Why this fault set cannot be used, or `nil` when it is valid.
    public var problem: String? {
        if !(0...1).contains(errorRate) { return "error_rate must be between 0 and 1" }
        if !(400...599).contains(errorStatus) { return "error_status must be between 400 and 599" }
        if latencyMilliseconds < 0 { return "latency_ms must not be negative" }
        if let outageMilliseconds, outageMilliseconds < 0 { return "outage_ms must not be negative" }
        if failAgain < 0 { return "fail_again must not be negative" }
        if let progressAfterMilliseconds, progressAfterMilliseconds < 0 {
            return "progress_after_ms must not be negative"
        }
        if let rateLimit {
            if let count = rateLimit.count, count < 0 { return "rate_limit.count must not be negative" }
            if let seconds = rateLimit.retryAfter, seconds < 0 { return "rate_limit.retry_after must not be negative" }
        }
        return nil
    }
}

/// Answer calls with 429 Too Many Requests.
public struct RateLimitFault: Sendable, Hashable, Codable {
    /// How many of the next calls are limited; `nil` limits every call until cleared. Counts down
    /// as calls are limited.
    public var count: Int?
    /// The `Retry-After` to send, in seconds; `nil` sends none.
    public var retryAfter: Int?
    /// Send `Retry-After` as an HTTP date (IMF-fixdate) instead of delta-seconds.
    public var httpDate: Bool

    /// Creates a rate-limit fault.
    public init(count: Int? = nil, retryAfter: Int? = nil, httpDate: Bool = false) {
        self.count = count
        self.retryAfter = retryAfter
        self.httpDate = httpDate
    }

    enum CodingKeys: String, CodingKey {
        case count
        case retryAfter = "retry_after"
        case httpDate = "http_date"
    }

    /// Decodes leniently: every key is optional.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            count: try container.decodeIfPresent(Int.self, forKey: .count),
            retryAfter: try container.decodeIfPresent(Int.self, forKey: .retryAfter),
            httpDate: try container.decodeIfPresent(Bool.self, forKey: .httpDate) ?? false
        )
    }
}
