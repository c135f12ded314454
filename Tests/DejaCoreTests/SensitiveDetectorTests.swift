import Testing

@testable import DejaCore

/// The ID number, credit code and bank card detectors: checksums, dates, regions, boundaries, masks.
@Suite struct SensitiveDetectorTests {
    @Test func publishedIDNumbersAreFoundAndMasked() {
        #expect(SensitiveScanner.matches(in: "11010519491231002X") == [
            SensitiveMatch(kind: .idNumber, text: "11010519491231002X", masked: "110105********002X")
        ])
        // GB 11643's own example is born in 1880, before the years the detector accepts (1900–2099); its
        // digits happen to pass Luhn, so it is still masked, as a card number.
        #expect(SensitiveScanner.matches(in: "440524188001010014", kinds: [.idNumber]).isEmpty)
        #expect(SensitiveScanner.matches(in: "440524188001010014").map(\.kind) == [.bankCard])
        #expect(kinds(in: "440524190001010017", only: .idNumber) == [.idNumber])
        #expect(SensitiveScanner.matches(in: "11010519491231002x").map(\.kind) == [.idNumber])
    }

    @Test func syntheticIDNumbersAreFoundAndEveryOneDigitChangeIsNot() {
        var generator = SeededGenerator(seed: 11643)
        for _ in 0..<40 {
            let province = [11, 15, 23, 37, 46, 50, 65, 71, 81, 82].randomElement(using: &generator)!
            let body = String(province) + digits(4, &generator) + "19\(Int.random(in: 10...99, using: &generator))"
                + "0\(Int.random(in: 1...9, using: &generator))" + "1\(Int.random(in: 0...9, using: &generator))"
                + digits(3, &generator)
            let id = SensitiveSamples.idNumber(body)
            #expect(kinds(in: "号码 \(id) 。", only: .idNumber) == [.idNumber], "\(id)")
            for position in 0..<17 {
                var changed = Array(id.utf8)
                changed[position] = UInt8(ascii: "0") + (changed[position] - UInt8(ascii: "0") + 1) % 10
                let text = String(decoding: changed, as: UTF8.self)
                #expect(kinds(in: text, only: .idNumber).isEmpty, "\(text)")
            }
        }
    }

    @Test func impossibleBirthDatesAreNotIDNumbers() {
        for date in ["19990230", "19000229", "20230229", "19991301", "19990001", "19990100", "18991231", "21000101", "19990431"] {
            let id = SensitiveSamples.idNumber("110105" + date + "002")
            #expect(kinds(in: id, only: .idNumber).isEmpty, "\(date)")
        }
        for date in ["20000229", "19960229", "19000101", "20991231", "19990331"] {
            let id = SensitiveSamples.idNumber("110105" + date + "002")
            #expect(kinds(in: id, only: .idNumber) == [.idNumber], "\(date)")
        }
    }

    @Test func unknownProvinceCodesAreNotIDNumbers() {
        for province in ["10", "16", "20", "24", "30", "38", "47", "55", "60", "66", "70", "72", "80", "83", "99"] {
            let id = SensitiveSamples.idNumber(province + "0105" + "19491231" + "002")
            #expect(kinds(in: id, only: .idNumber).isEmpty, "\(province)")
        }
    }

    @Test func aMatchIsNeverPartOfALongerRunOfLettersAndDigits() {
        let id = "11010519491231002X"
        #expect(SensitiveScanner.matches(in: "身份证号：\(id)。").map(\.text) == [id])
        #expect(SensitiveScanner.matches(in: "(\(id))").map(\.text) == [id])
        #expect(SensitiveScanner.matches(in: "1\(id)").isEmpty)
        #expect(SensitiveScanner.matches(in: "1\(id.dropLast())2").isEmpty)
        #expect(SensitiveScanner.matches(in: "\(id)5").isEmpty)
        #expect(SensitiveScanner.matches(in: "ID\(id)").isEmpty)
        #expect(SensitiveScanner.matches(in: "\(id)abc").isEmpty)
        #expect(SensitiveScanner.matches(in: "号\(id)号").map(\.text) == [id])
    }

    @Test func thePublishedCreditCodeIsFoundAndMasked() {
        #expect(SensitiveScanner.matches(in: "统一社会信用代码：91350100M000100Y43") == [
            SensitiveMatch(kind: .creditCode, text: "91350100M000100Y43", masked: "91350100*********3")
        ])
    }

    @Test func creditCodesFailOnAnyChangedCharacterAndOnCharactersOutsideTheAlphabet() {
        let code = "91350100M000100Y43"
        let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
        for position in 0..<18 {
            var changed = Array(code)
            let value = alphabet.firstIndex(of: changed[position])!
            changed[position] = alphabet[(value + 1) % ((2..<8).contains(position) ? 10 : 31)]
            let text = String(changed)
            #expect(kinds(in: text, only: .creditCode).isEmpty, "\(text)")
        }
        #expect(kinds(in: "91350100m000100y43", only: .creditCode).isEmpty)
        // A right check character does not make up for a letter outside the alphabet or the wrong places.
        for body in ["91350100M000100I4", "91350100O000100Y4", "0135010000000100Y", "913A0100M000100Y4", "Z1350100M000100Y4"] {
            #expect(kinds(in: SensitiveSamples.creditCode(body, checkedAs: body), only: .creditCode).isEmpty, "\(body)")
        }
        for body in ["91110000600037341", "12100000400000624", "Y1350100M000100Y4", "N2440300MA5DC5AB1"] {
            #expect(kinds(in: SensitiveSamples.creditCode(body), only: .creditCode) == [.creditCode], "\(body)")
        }
    }

    @Test func bankCardsAreFoundContiguousOrGrouped() {
        #expect(SensitiveScanner.matches(in: "卡号 4111111111111111") == [
            SensitiveMatch(kind: .bankCard, text: "4111111111111111", masked: "411111******1111")
        ])
        #expect(SensitiveScanner.matches(in: "卡号：6222 0212 3456 7890 128。") == [
            SensitiveMatch(kind: .bankCard, text: "6222 0212 3456 7890 128", masked: "6222 02** **** ***0 128")
        ])
        #expect(SensitiveScanner.matches(in: "6222-0212-3456-7890-128").map(\.masked) == ["6222-02**-****-***0-128"])
        #expect(SensitiveScanner.matches(in: "622202 1234567890128").map(\.masked) == ["622202 *********0128"])
        #expect(SensitiveScanner.matches(in: "4111 1111 1111 1111 到期 12/28").map(\.text) == ["4111 1111 1111 1111"])
    }

    @Test func bankCardsNeedLuhnSixteenToNineteenDigitsAndAFirstDigitThreeToSix() {
        var generator = SeededGenerator(seed: 1954)
        for length in 16...19 {
            for first in ["3", "4", "5", "6"] {
                let card = SensitiveSamples.luhnCompleted(first + digits(length - 2, &generator))
                #expect(kinds(in: card, only: .bankCard) == [.bankCard], "\(card)")
                for position in 0..<length {
                    var changed = Array(card.utf8)
                    changed[position] = UInt8(ascii: "0") + (changed[position] - UInt8(ascii: "0") + 3) % 10
                    let text = String(decoding: changed, as: UTF8.self)
                    #expect(kinds(in: text, only: .bankCard).isEmpty, "\(text)")
                }
            }
        }
        #expect(kinds(in: "378282246310005", only: .bankCard).isEmpty)  // Luhn valid, 15 digits
        #expect(kinds(in: SensitiveSamples.luhnCompleted("711111111111111"), only: .bankCard).isEmpty)
        #expect(kinds(in: SensitiveSamples.luhnCompleted("211111111111111"), only: .bankCard).isEmpty)
        #expect(kinds(in: SensitiveSamples.luhnCompleted("4111111111111111111"), only: .bankCard).isEmpty)  // 20
        #expect(kinds(in: "4111  1111 1111 1111", only: .bankCard).isEmpty)  // double space
        #expect(kinds(in: "4111 1111-1111 1111", only: .bankCard).isEmpty)  // mixed separators
        #expect(kinds(in: "4111 1111 1111 1111 5", only: .bankCard) == [.bankCard])
        #expect(kinds(in: "41 11111111 11111111", only: .bankCard).isEmpty)  // a group under three digits
    }

    @Test func overlapsGoToTheKindDeclaredFirst() throws {
        let ids = SensitiveSamples.idNumbers(from: "44052419800101")
        // An 18-digit number that is a valid ID and a Luhn-valid card is an ID number.
        let card = try #require(ids.first { SensitiveSamples.luhnCompleted(String($0.prefix(17))) == $0 })
        #expect(kinds(in: card, only: .bankCard) == [.bankCard])
        #expect(SensitiveScanner.matches(in: card).map(\.kind) == [.idNumber])
        // So is one that is also a valid credit code.
        let code = try #require(ids.first { SensitiveSamples.creditCode(String($0.prefix(17))) == $0 })
        #expect(kinds(in: code, only: .creditCode) == [.creditCode])
        #expect(SensitiveScanner.matches(in: code).map(\.kind) == [.idNumber])
        // A mobile number that is also the local part of an address is a mobile number.
        #expect(SensitiveScanner.matches(in: "电话 13800138000@qq.com").map(\.kind) == [.mobile])
        #expect(SensitiveScanner.matches(in: "电话 13800138000@qq.com", kinds: [.email]).map(\.masked) == ["1**********@qq.com"])
        // A card inside an address is a card.
        #expect(SensitiveScanner.matches(in: "x.4111111111111111@bank.com").map(\.kind) == [.bankCard])
    }

    @Test func onlyTheRequestedKindsAreFound() {
        let text = "身份证 11010519491231002X 卡 4111111111111111 邮箱 a.b@example.com"
        #expect(SensitiveScanner.matches(in: text).map(\.kind) == [.idNumber, .bankCard, .email])
        #expect(SensitiveScanner.matches(in: text, kinds: [.email, .idNumber]).map(\.kind) == [.idNumber, .email])
        #expect(SensitiveScanner.matches(in: text, kinds: []).isEmpty)
    }

    @Test func hostileInputsCostLinearTime() {
        let pieces = ["1 ", "a@", "6222 ", "13800138000-", "a.", "1@1.", "86 1", "电话13800138000 ", "a@b.cn "]
        for piece in pieces {
            let small = String(repeating: piece, count: 2_500)
            let large = String(repeating: piece, count: 20_000)
            let clock = ContinuousClock()
            _ = SensitiveScanner.matches(in: small)
            let smallTime = clock.measure { _ = SensitiveScanner.matches(in: small) }
            let largeTime = clock.measure { _ = SensitiveScanner.matches(in: large) }
            // Quadratic time would be 64 times slower; linear is 8.
            #expect(largeTime < smallTime * 30 + .milliseconds(50), "\(piece): \(smallTime) → \(largeTime)")
        }
    }

    private func kinds(in text: String, only kind: SensitiveKind) -> [SensitiveKind] {
        SensitiveScanner.matches(in: text, kinds: [kind]).map(\.kind)
    }

    private func digits(_ count: Int, _ generator: inout SeededGenerator) -> String {
        String((0..<count).map { _ in "0123456789".randomElement(using: &generator)! })
    }
}

/// Check characters computed the way the standards define them, independently of the detectors.
enum SensitiveSamples {
    /// `body` (17 digits) and its GB 11643 check character: weights 2^(17−i) mod 11, check (12 − sum) mod 11.
    static func idNumber(_ body: String) -> String {
        var weight = 1
        var weights: [Int] = []
        for _ in 0..<17 {
            weight = weight * 2 % 11
            weights.insert(weight, at: 0)
        }
        let sum = zip(body, weights).reduce(0) { $0 + $1.0.wholeNumberValue! * $1.1 }
        let check = (12 - sum % 11) % 11
        return body + (check == 10 ? "X" : String(check))
    }

    /// The valid ID numbers whose first 14 digits (region and birth date) are `prefix`.
    static func idNumbers(from prefix: String) -> [String] {
        (0..<1000).map { idNumber(prefix + String(String($0 + 1000).dropFirst())) }
    }

    /// `body` (17 characters) and its GB 32100 check character computed over `checkedAs`: weights
    /// 3^i mod 31, check (31 − sum mod 31) mod 31.
    static func creditCode(_ body: String, checkedAs checked: String? = nil) -> String {
        let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
        var weight = 1
        var sum = 0
        for character in checked ?? body {
            sum += (alphabet.firstIndex(of: character) ?? 18) * weight
            weight = weight * 3 % 31
        }
        return body + String(alphabet[(31 - sum % 31) % 31])
    }

    /// `body` and the Luhn check digit that makes it valid.
    static func luhnCompleted(_ body: String) -> String {
        let sum = body.reversed().enumerated().reduce(0) { sum, item in
            let digit = item.element.wholeNumberValue!
            return sum + (item.offset % 2 == 0 ? (digit * 2) / 10 + (digit * 2) % 10 : digit)
        }
        return body + String((10 - sum % 10) % 10)
    }
}
