/// How long to wait before a task's next retry attempt.
///
/// The base delay of attempt `n` (0-based: `n` is the number of earlier tries in this episode)
/// is `min(max, initial × factorⁿ)`. Jitter then spreads it:
///
/// - `full`: uniform in `[0, base]`
/// - `equal`: `base/2 + uniform in [0, base/2]`
/// - `none`: exactly `base`
///
/// With `initial: 30s, factor: 2, max: 30m`:
///
/// | n | base  | full jitter | equal jitter |
/// |---|-------|-------------|--------------|
/// | 0 | 30s   | 0–30s       | 15–30s       |
/// | 1 | 60s   | 0–60s       | 30–60s       |
/// | 2 | 2m    | 0–2m        | 1–2m         |
/// | 3 | 4m    | 0–4m        | 2–4m         |
/// | 6 | 30m   | 0–30m       | 15–30m       |
public struct BackoffPolicy: Sendable, Hashable {
    public enum Jitter: String, Sendable, Hashable, CaseIterable {
        case full
        case equal
        case none
    }

    public var initial: Duration
    public var factor: Double
    public var max: Duration
    public var jitter: Jitter

    public init(initial: Duration, factor: Double, max: Duration, jitter: Jitter) {
        self.initial = initial
        self.factor = factor
        self.max = max
        self.jitter = jitter
    }

    /// The shipped default: `{initial: 30s, factor: 2, max: 30m, jitter: full}`.
    public static let standard = BackoffPolicy(initial: .seconds(30), factor: 2, max: .seconds(1800), jitter: .full)

    /// The delay before try `n` of an episode, before jitter.
    public func baseDelay(tries n: Int) -> Duration {
        let initialSeconds = initial.secondsDouble
        let capSeconds = max.secondsDouble
        var seconds = initialSeconds
        var step = 0
        while step < n, seconds < capSeconds {
            seconds *= factor
            step += 1
        }
        return .nanoseconds(Int64((Swift.min(seconds, capSeconds) * 1e9).rounded()))
    }

    /// The delay before try `n`, with jitter drawn from `unit`, a number in `[0, 1]`.
    ///
    /// Taking the random number as a parameter keeps the formula pure and testable.
    public func delay(tries n: Int, unit: Double) -> Duration {
        let base = baseDelay(tries: n).secondsDouble
        let u = Swift.min(Swift.max(unit, 0), 1)
        let seconds: Double
        switch jitter {
        case .full: seconds = base * u
        case .equal: seconds = base / 2 + base / 2 * u
        case .none: seconds = base
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
