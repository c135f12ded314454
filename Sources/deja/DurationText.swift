/// Durations as the command line takes them: a number of seconds, or a number followed by s, m, h or d.
enum DurationText {
    /// Seconds in `text` (`3600`, `90m`, `24h`, `7d`); `nil` for anything else or a negative number.
    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        var number = Substring(text), unit = 1.0
        if let last = text.last, let scale = units[last] {
            number = text.dropLast()
            unit = scale
        }
        guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
        return value * unit
    }
}
