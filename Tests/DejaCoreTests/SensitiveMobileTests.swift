import Testing

@testable import DejaCore

/// Mobile numbers count next to a context word, alone in their text, or after a line that names them.
@Suite struct SensitiveMobileTests {
    @Test func aContextWordBeforeTheNumberMakesItCount() {
        #expect(SensitiveScanner.matches(in: "手机：13800138000") == [
            SensitiveMatch(kind: .mobile, text: "13800138000", masked: "138****8000")
        ])
        #expect(masked("联系电话 138-0013-8000 张先生") == ["138-****-8000"])
        #expect(masked("Tel: +86 138 0013 8000") == ["+86 138 **** 8000"])
        #expect(masked("Mobile:+8613900139000") == ["+86139****9000"])
        #expect(masked("致电86-15912345678咨询") == ["86-159****5678"])
        #expect(masked("服务热线（24小时）：19912345678") == ["199****5678"])
        for word in ["手机", "手機", "电话", "電話", "联系", "聯繫", "热线", "Tel", "TEL", "Phone", "phone", "Mobile", "mobile", "Mob", "致电"] {
            #expect(masked("\(word) 13800138000 x") == ["138****8000"], "\(word)")
        }
    }

    @Test func withoutContextANumberInOtherTextDoesNotCount() {
        #expect(masked("编号 13800138000 已处理").isEmpty)
        #expect(masked("iphone 13800138000 x").isEmpty)
        #expect(masked("13800138000 元").isEmpty)
        // The context word ends at most 12 characters before the number.
        #expect(masked("电话是一二三四五六七八九十十13800138000 x") == ["138****8000"])
        #expect(masked("电话是一二三四五六七八九十十一13800138000 x").isEmpty)
    }

    @Test func aNumberStandingAloneCounts() {
        #expect(masked("13800138000") == ["138****8000"])
        #expect(masked("  （13800138000）\n") == ["138****8000"])
        #expect(masked("+86 13800138000") == ["+86 138****8000"])
        #expect(masked("13800138000 (手机)") == ["138****8000"])
        #expect(masked("13800138000。").isEmpty)
        #expect(masked("13800138000 13900139000").isEmpty)
    }

    @Test func aContextWordEndingThePreviousTextCounts() {
        #expect(masked("13800138000 张三", previous: "联系电话：") == ["138****8000"])
        #expect(masked("13800138000 张三", previous: "Phone :  ") == ["138****8000"])
        #expect(masked("13800138000 张三", previous: "合计").isEmpty)
        #expect(masked("13800138000 张三", previous: "电话 号码").isEmpty)
        #expect(masked("13800138000 张三", previous: nil).isEmpty)
    }

    @Test func onlyWellFormedNumbersOutsideLongerRunsCount() {
        #expect(masked("订单号 13800138000123").isEmpty)
        #expect(masked("电话 13800138000123").isEmpty)
        #expect(masked("电话 913800138000").isEmpty)
        #expect(masked("电话 12800138000").isEmpty)  // second digit 2
        #expect(masked("电话 1380013800").isEmpty)  // ten digits
        #expect(masked("电话 138 0013-8000").isEmpty)  // mixed separators
        #expect(masked("电话 1380 013 8000").isEmpty)  // not 3-4-4
        #expect(masked("电话 +87 13800138000") == ["138****8000"])
        #expect(masked("电话 13800138000a").isEmpty)
    }

    private func masked(_ text: String, previous: String? = nil) -> [String] {
        SensitiveScanner.matches(in: text, previous: previous, kinds: [.mobile]).map(\.masked)
    }
}
