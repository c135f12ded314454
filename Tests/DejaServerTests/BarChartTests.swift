@testable import DejaServer
import Testing

@Suite struct BarChartTests {
    @Test func ticksAreRoundAndCoverTheMaximum() {
        #expect(BarChart.ticks(maximum: 0) == [0, 1])
        #expect(BarChart.ticks(maximum: 3) == [0, 1, 2, 3])
        #expect(BarChart.ticks(maximum: 12) == [0, 5, 10, 15])
        #expect(BarChart.ticks(maximum: 65) == [0, 20, 40, 60, 80])
        #expect(BarChart.ticks(maximum: 1_000) == [0, 500, 1_000])
        #expect(BarChart.ticks(maximum: 41_234) == [0, 20_000, 40_000, 60_000])
    }

    @Test func segmentsStackToEachBucketsTotalAndCarryExactCounts() throws {
        let chart = BarChart(labels: ["a", "b", "c"], series: [
            .init(name: "hits", cssClass: "hit", values: [3, 0, 1_234]),
            .init(name: "misses", cssClass: "miss", values: [1, 2]),  // shorter: the rest is 0
        ], title: "Requests")
        #expect(chart.totals == [4, 2, 1_234])
        let svg = chart.svg()
        #expect(svg.components(separatedBy: "<rect").count - 1 == 4)  // zero values draw nothing
        #expect(svg.contains("<title>c · hits: 1,234</title>"))
        #expect(svg.contains("<title>a · misses: 1</title>"))
        // Plot height 186 over the top tick 1,500: 1,234 is 153.0 high, bottom at y = 196.
        #expect(svg.contains(#"y="43" width="#) && svg.contains(#"height="153""#))
        #expect(svg.contains(">1.5k</text>"))
    }

    @Test func textIsEscapedAndNothingButTheChartIsDrawn() {
        let svg = BarChart(labels: ["<b>&\"'"], series: [.init(name: "</title><script>", cssClass: "hit", values: [1])],
                           title: "a < b").svg()
        #expect(!svg.contains("<script>") && !svg.contains("<b>"))
        #expect(svg.contains("&lt;/title&gt;&lt;script&gt;") && svg.contains("&lt;b&gt;&amp;&quot;&#39;"))
        #expect(!svg.contains("style="))
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
    }

    @Test func anEmptyChartHasAxesAndNoBars() {
        let svg = BarChart(labels: [], series: [], title: "none").svg()
        #expect(!svg.contains("<rect"))
        #expect(svg.contains("<line"))
    }
}

@Suite struct DashboardPeriodTests {
    // 2026-12-03T17:09:30Z
    let now = 1_796_317_770.0

    @Test func namedPeriodsEndAtTheCurrentHourOrDayInWholeBuckets() throws {
        let day = try DashboardPeriod.parse(period: nil, from: nil, to: nil, now: now)
        #expect(day.name == "24h" && day.bucket == .hour)
        #expect(day.to == 1_796_320_800 && day.to - day.from == 86_400)
        #expect(day.starts.count == 24)
        #expect(day.groupName(day.starts[0]) == "2026-12-02T18:00Z")
        #expect(day.label(day.starts[23]) == "17:00")
        let week = try DashboardPeriod.parse(period: "7d", from: nil, to: nil, now: now)
        #expect(week.bucket == .day && week.starts.count == 7)
        #expect(week.groupName(week.starts[6]) == "2026-12-03" && week.label(week.starts[0]) == "11-27")
        #expect(try DashboardPeriod.parse(period: "30d", from: nil, to: nil, now: now).starts.count == 30)
    }

    @Test func rangesOfDaysAreInclusiveAsInUsage() throws {
        let two = try DashboardPeriod.parse(period: nil, from: "2026-12-01", to: "2026-12-02", now: now)
        #expect(two.from == UsageDay.seconds("2026-12-01", endOfDay: false))
        #expect(two.to == UsageDay.seconds("2026-12-02", endOfDay: true))
        #expect(two.bucket == .hour && two.starts.count == 48)
        #expect(try DashboardPeriod.parse(period: nil, from: "2026-11-01", to: "2026-11-30", now: now).bucket == .day)
        for (from, to) in [("2026-12-02", "2026-12-01"), ("2024-01-01", "2026-01-01"), ("yesterday", "2026-12-01")] as [(String?, String?)] {
            #expect(throws: (any Error).self) { try DashboardPeriod.parse(period: nil, from: from, to: to, now: now) }
        }
        #expect(throws: (any Error).self) { try DashboardPeriod.parse(period: nil, from: "2026-12-01", to: nil, now: now) }
        #expect(throws: (any Error).self) { try DashboardPeriod.parse(period: "1y", from: nil, to: nil, now: now) }
    }

    @Test func figuresReadTheSameInEveryLanguage() {
        #expect(DashboardFormat.grouped(0) == "0")
        #expect(DashboardFormat.grouped(1_234_567) == "1,234,567")
        #expect(DashboardFormat.grouped(-1_000) == "-1,000")
        #expect(DashboardFormat.percent(0.6364) == "63.6%")
        #expect(DashboardFormat.duration(42) == "42.0 s" && DashboardFormat.duration(750) == "12.5 min")
        #expect(DashboardFormat.compact(950) == "950" && DashboardFormat.compact(1_500) == "1.5k" && DashboardFormat.compact(34_000) == "34k")
        #expect(DashboardFormat.time(now) == "2026-12-03 17:09 UTC")
        #expect(DashboardLabels.choose(lang: nil, acceptLanguage: "zh-CN,zh;q=0.9,en;q=0.8").lang == "zh")
        #expect(DashboardLabels.choose(lang: "en", acceptLanguage: "zh-CN").lang == "en")
        #expect(DashboardLabels.choose(lang: nil, acceptLanguage: nil).lang == "en")
    }
}
