/// Durations as operators write them: `500ms`, `30s`, `10m`, `24h`, or a sum such as `1h30m`.
public enum DurationText {
    /// The longest duration any setting takes: 10 years of 365 days (`87600h`). Anything longer is
    /// surely a typo, and far shorter than what the arithmetic in nanoseconds can hold.
    public static let maximum: Duration = .seconds(87_600 * 3600)

    /// Why a text is not a duration this program takes.
    public enum Problem: Error, Sendable, Hashable {
        /// Not a number with a unit (`ms`, `s`, `m`, `h`).
        case notADuration
        /// Longer than ``DurationText/maximum``.
        case tooLong
    }

    /// Parses `text`; `nil` when it is not a duration or is longer than ``maximum``. A bare number
    /// is not accepted: the unit must be explicit so that `30` is never read as 30 ms or 30 s by
    /// mistake.
    public static func parse(_ text: String) -> Duration? {
        try? read(text).get()
    }

    /// Parses `text`, saying why it is not a duration when it is not one.
    public static func read(_ text: String) -> Result<Duration, Problem> {
        let maximumSeconds = maximum.secondsDouble
        var total = Duration.zero
        var digits = ""
        var sawComponent = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character.isASCII, character.isNumber || character == "." {
                digits.append(character)
                index = text.index(after: index)
                continue
            }
            var unit = ""
            while index < text.endIndex, text[index].isASCII, text[index].isLetter {
                unit.append(text[index])
                index = text.index(after: index)
            }
            guard !digits.isEmpty, let value = Double(digits), value.isFinite else { return .failure(.notADuration) }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return .failure(.notADuration)
            }
            let seconds = value * scale
            // Checked before the conversion to nanoseconds, which would trap past about 292 years.
            guard seconds <= maximumSeconds else { return .failure(.tooLong) }
            total += .nanoseconds(Int64((seconds * 1e9).rounded()))
            guard total <= maximum else { return .failure(.tooLong) }
            digits = ""
            sawComponent = true
        }
        guard digits.isEmpty, sawComponent else { return .failure(.notADuration) }
        return .success(total)
    }

    /// The shortest exact spelling of `duration` (`1h`, `90s`, `1500ms`).
    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 3_600_000 == 0, milliseconds != 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds != 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var secondsDouble: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
