@testable import DejaLedger
import Foundation
import Testing

@Suite struct QuotaPeriodTests {
    @Test func dayWindowsAreUTCDays() throws {
        let window = try #require(QuotaPeriod.day.window(containing: newYear2026 + 86_399.9))
        #expect(window.start == newYear2026)
        #expect(window.end == newYear2026 + 86_400)
        #expect(QuotaPeriod.day.window(containing: newYear2026 - 0.001)?.start == newYear2026 - 86_400)
        #expect(QuotaPeriod.prepaid.window(containing: newYear2026) == nil)
    }

    @Test func monthWindowsMatchTheGregorianCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Every day from 1999 to 2101, leap years and century rules included.
        var day = Date(timeIntervalSince1970: 915_148_800)  // 1999-01-01
        while day.timeIntervalSince1970 < 4_133_980_800 {  // 2101-01-01
            let start = calendar.date(from: calendar.dateComponents([.year, .month], from: day))!
            let end = calendar.date(byAdding: .month, value: 1, to: start)!
            let window = try #require(QuotaPeriod.month.window(containing: day.timeIntervalSince1970 + 43_210.5))
            #expect(window.start == start.timeIntervalSince1970)
            #expect(window.end == end.timeIntervalSince1970)
            day = calendar.date(byAdding: .day, value: 11, to: day)!
        }
    }

    @Test func formatsResetTimes() {
        #expect(QuotaExceeded.iso8601(newYear2026 + 31 * 86_400) == "2026-02-01T00:00:00Z")
        #expect(QuotaExceeded.iso8601(951_782_400 + 3723.9) == "2000-02-29T01:02:03Z")
    }
}
