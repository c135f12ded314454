#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How the dashboard writes numbers and times: locale-independent, so a figure reads the same in both
/// languages and a test can parse it back.
enum DashboardFormat {
    /// Escapes text for HTML and XML content and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// `1234567` → `1,234,567`.
    static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }

    /// Short axis figures: `950`, `1.2k`, `34k`, `5.6M`, `7.8G`.
    static func compact(_ value: Double) -> String {
        let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (size, suffix) in units where abs(value) >= size {
            let scaled = value / size
            return (abs(scaled) < 10 ? oneDecimal(scaled) : String(Int(scaled.rounded()))) + suffix
        }
        return value == value.rounded() ? String(Int(value)) : oneDecimal(value)
    }

    /// `0.8734` → `87.3%`.
    static func percent(_ ratio: Double) -> String { oneDecimal(ratio * 100) + "%" }

    /// Model time saved: `42.0 s`, `12.5 min`, `3.2 h`.
    static func duration(_ seconds: Double) -> String {
        if seconds >= 3600 { return oneDecimal(seconds / 3600) + " h" }
        if seconds >= 60 { return oneDecimal(seconds / 60) + " min" }
        return oneDecimal(seconds) + " s"
    }

    /// `x.y`, rounded half away from zero.
    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int64((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        return "\(sign)\(tenths.magnitude / 10).\(tenths.magnitude % 10)"
    }

    /// The UTC calendar fields of a time in seconds since 1970.
    static func utc(_ seconds: Double) -> tm {
        var clock = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&clock, &parts)
        return parts
    }

    /// `2026-12-03 17:05 UTC`.
    static func time(_ seconds: Double) -> String {
        let parts = utc(seconds)
        return "\(day(parts)) \(two(parts.tm_hour)):\(two(parts.tm_min)) UTC"
    }

    /// `2026-12-03`.
    static func day(_ seconds: Double) -> String { day(utc(seconds)) }

    private static func day(_ parts: tm) -> String {
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    static func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
