/// A stacked bar chart drawn as inline SVG: one bar per bucket (an hour or a day), one stacked segment
/// per series.
///
/// Pure: the same figures always give the same bytes. Every text is XML-escaped; colours come from
/// the page's style sheet through the series' class names, so the SVG carries no style of its own and
/// the page's Content-Security-Policy can forbid inline styles. Each bar segment has a `<title>` with its
/// exact count, the tooltip a browser shows on hover without any script; the axis rounds (`1.2k`).
struct BarChart: Sendable {
    /// One stacked layer: a name for the legend and tooltips, a CSS class, a value per bucket.
    struct Series: Sendable {
        var name: String
        var cssClass: String
        var values: [Double]
    }

    /// One label per bucket, e.g. `17:00` or `12-03`.
    var labels: [String]
    /// Bottom first.
    var series: [Series]
    /// What the chart shows, for screen readers (`<title>` of the SVG).
    var title: String

    static let width = 720.0
    static let height = 220.0
    static let left = 52.0
    static let right = 8.0
    static let top = 10.0
    static let bottom = 24.0

    /// The stacked total of each bucket.
    var totals: [Double] {
        labels.indices.map { index in series.reduce(0) { $0 + (index < $1.values.count ? max(0, $1.values[index]) : 0) } }
    }

    /// The chart as an `<svg>` element that scales to its container's width.
    func svg() -> String {
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        let ticks = Self.ticks(maximum: totals.max() ?? 0)
        let scale = plotHeight / (ticks.last ?? 1)
        var out = #"<svg class="chart" viewBox="0 0 \#(Self.number(Self.width)) \#(Self.number(Self.height))" role="img" "#
            + #"preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><title>\#(DashboardFormat.escape(title))</title>"#
        for tick in ticks {
            let y = Self.top + plotHeight - tick * scale
            out += #"<line class="grid" x1="\#(Self.number(Self.left))" x2="\#(Self.number(Self.width - Self.right))" "#
                + #"y1="\#(Self.number(y))" y2="\#(Self.number(y))"/>"#
            out += #"<text class="axis" x="\#(Self.number(Self.left - 6))" y="\#(Self.number(y + 4))" text-anchor="end">"#
                + "\(DashboardFormat.compact(tick))</text>"
        }
        guard !labels.isEmpty else { return out + "</svg>" }
        let slot = plotWidth / Double(labels.count)
        let barWidth = max(1, slot * 0.78)
        // At most about twelve labels under the axis, evenly spaced.
        let labelEvery = max(1, Int((Double(labels.count) / 12).rounded(.up)))
        for (index, label) in labels.enumerated() {
            let x = Self.left + Double(index) * slot + (slot - barWidth) / 2
            var base = Self.top + plotHeight
            for layer in series {
                let value = index < layer.values.count ? max(0, layer.values[index]) : 0
                guard value > 0 else { continue }
                let height = value * scale
                base -= height
                out += #"<rect class="\#(DashboardFormat.escape(layer.cssClass))" x="\#(Self.number(x))" y="\#(Self.number(base))" "#
                    + #"width="\#(Self.number(barWidth))" height="\#(Self.number(height))">"#
                    + "<title>\(DashboardFormat.escape(label)) · \(DashboardFormat.escape(layer.name)): \(DashboardFormat.grouped(Int64(value.rounded())))</title></rect>"
            }
            if index % labelEvery == 0 {
                out += #"<text class="axis" x="\#(Self.number(x + barWidth / 2))" y="\#(Self.number(Self.height - 6))" "#
                    + #"text-anchor="middle">\#(DashboardFormat.escape(label))</text>"#
            }
        }
        return out + "</svg>"
    }

    /// Axis ticks for counts from 0 to a round number at or above `maximum`: steps of 1, 2 or 5 × 10ⁿ
    /// (at least 1), about four of them; `[0, 1]` for an empty chart.
    static func ticks(maximum: Double) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 1] }
        let rough = max(1, maximum / 4)
        var magnitude = 1.0
        while magnitude * 10 <= rough { magnitude *= 10 }
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? magnitude * 10
        let count = Int((maximum / step).rounded(.up))
        return (0...max(1, count)).map { Double($0) * step }
    }

    /// A coordinate with at most one decimal, without a trailing `.0`.
    static func number(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        let whole = Int(tenths / 10)
        let fraction = Int(abs(tenths).truncatingRemainder(dividingBy: 10))
        if fraction == 0 { return String(whole) }
        return (tenths < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
    }
}
