/// Durations as operators write them: `500ms`, `30s`, `10m`, `24h`, or a sum such as `1h30m`.
public enum DurationText {
    /// Parses `text`; `nil` when it is not a duration. A bare number is not accepted: the unit
    /// must be explicit so that `30` is never read as 30 ms or 30 s by mistake.
    public static func parse(_ text: String) -> Duration? {
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
            guard !digits.isEmpty, let value = Double(digits), value.isFinite else { return nil }
            let scale: Double
            switch unit {
            case "ms": scale = 0.001
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            let seconds = value * scale
            guard seconds < 1e12 else { return nil }
            total += .nanoseconds(Int64((seconds * 1e9).rounded()))
            digits = ""
            sawComponent = true
        }
        guard digits.isEmpty, sawComponent else { return nil }
        return total
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
