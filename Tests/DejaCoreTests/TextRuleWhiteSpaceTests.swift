import Testing

@testable import DejaCore

/// The white-space pass of a text rule: trimming, collapsing and removing white space next to Chinese and
/// Japanese text (docs/canonical-form.md §4.1), held to the examples of the spec, to a naive reference
/// implementation on random mixed text, and to idempotence and linear cost.
@Suite struct TextRuleWhiteSpaceTests {
    static let all = TextRule(form: .nfkc, trim: true, collapseWhitespace: true, cjkSpacing: true)
    static let cjk = TextRule(form: .none, cjkSpacing: true)

    @Test func theSpecExamples() {
        for text in ["怎么退货？", "怎么退货?", " 怎么 退货 ？ ", "\u{3000}怎么\t退货\n？\u{3000}", "怎 么 退 货 ?"] {
            #expect(Self.all.apply(to: text) == "怎么退货?", "\(text)")
        }
        #expect(Self.all.apply(to: "Hello  world") == "Hello world")
        #expect(Self.all.apply(to: "iPhone 手机") == "iPhone手机")
        #expect(Self.all.description == "nfkc+trim+collapse+cjk")
        #expect(TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true, cjkSpacing: true).description
            == "nfkc+trim+collapse+casefold+cjk")
        #expect(Self.cjk.description == "none+cjk")
        #expect(!Self.cjk.isFormOnly)
    }

    @Test func whiteSpaceBetweenOtherTextStays() {
        #expect(Self.cjk.apply(to: "Hello \t world") == "Hello \t world")
        #expect(TextRule(collapseWhitespace: true, cjkSpacing: true).apply(to: "Hello \t world") == "Hello world")
        #expect(Self.cjk.apply(to: "Ελλάδα και Россия 42 !") == "Ελλάδα και Россия 42 !")
        // An ideographic space is white space, not CJK: between Latin words it stays (or collapses).
        #expect(Self.cjk.apply(to: "a\u{3000}b") == "a\u{3000}b")
        #expect(Self.all.apply(to: "a\u{3000}b") == "a b")
        // Zero-width space is not White_Space, so the rule leaves it alone.
        #expect(Self.cjk.apply(to: "中\u{200B}文") == "中\u{200B}文")
    }

    @Test func mixedScripts() {
        #expect(Self.all.apply(to: "我 用 iPhone 15 Pro 拍 照 。") == "我用iPhone 15 Pro拍照。")
        #expect(Self.all.apply(to: "これは ペン です。 This is a pen.") == "これはペンです。This is a pen.")
        #expect(Self.all.apply(to: "ｶﾀｶﾅ と 漢字") == "カタカナと漢字")
        #expect(Self.cjk.apply(to: "ｶﾀｶﾅ と abc") == "ｶﾀｶﾅとabc")  // halfwidth katakana without NFKC too
        #expect(Self.cjk.apply(to: "注音 ㄅㄆㄇ 𠀀 abc") == "注音ㄅㄆㄇ𠀀abc")  // Bopomofo, extension B
        #expect(Self.cjk.apply(to: "a 「b」 c") == "a「b」c")  // CJK brackets
        // Fullwidth punctuation is CJK before NFKC makes it ASCII; fullwidth letters are Latin.
        #expect(Self.cjk.apply(to: "Ｈｅｌｌｏ ｗｏｒｌｄ ？") == "Ｈｅｌｌｏ ｗｏｒｌｄ？")
        #expect(TextRule(form: .nfkc, cjkSpacing: true).apply(to: "Ｈｅｌｌｏ ｗｏｒｌｄ ？") == "Hello world ?")
        // Korean separates words with spaces that change the meaning: kept.
        #expect(Self.all.apply(to: "아버지가 방에 들어가신다") == "아버지가 방에 들어가신다")
        #expect(Self.cjk.apply(to: "한국어 中文 ㄱ") == "한국어中文ㄱ")
    }

    @Test func everyKindOfWhiteSpace() {
        let spaces: [Unicode.Scalar] = [
            "\u{9}", "\u{A}", "\u{B}", "\u{C}", "\u{D}", " ", "\u{85}", "\u{A0}", "\u{1680}", "\u{2000}", "\u{2005}",
            "\u{200A}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}", "\u{3000}",
        ]
        for space in spaces {
            let s = String(space)
            #expect(space.properties.isWhitespace)
            #expect(Self.cjk.apply(to: "中" + s + "文") == "中文", "\(space.value)")
            #expect(Self.cjk.apply(to: "中" + s + "a") == "中a", "\(space.value)")
            #expect(Self.cjk.apply(to: "a" + s + "文") == "a文", "\(space.value)")
            #expect(Self.cjk.apply(to: "a" + s + "b") == "a" + s + "b", "\(space.value)")
            #expect(TextRule(collapseWhitespace: true, cjkSpacing: true).apply(to: "a" + s + "b") == "a b", "\(space.value)")
        }
        let run = String(String.UnicodeScalarView(spaces))
        #expect(Self.cjk.apply(to: "中" + run + "a" + run + "b") == "中a" + run + "b")
        #expect(Self.all.apply(to: "中" + run + "a" + run + "b") == "中a b")
    }

    @Test func runsAtTheEnds() {
        #expect(Self.cjk.apply(to: " \t中文\u{3000} ") == "中文")
        #expect(Self.cjk.apply(to: "  abc  ") == "  abc  ")
        #expect(Self.cjk.apply(to: " 中 a ") == "中a ")
        #expect(TextRule(form: .none, trim: true, cjkSpacing: true).apply(to: " 中 a ") == "中a")
        #expect(TextRule(form: .none, collapseWhitespace: true, cjkSpacing: true).apply(to: "\t\t中文 a\n\n") == "中文a ")
        #expect(TextRule(form: .none, collapseWhitespace: true, cjkSpacing: true).apply(to: "\n a 中文 ") == " a中文")
        // Only white space: no neighbour, so only trimming or collapsing touch it.
        #expect(Self.cjk.apply(to: " \u{3000} ") == " \u{3000} ")
        #expect(TextRule(form: .none, collapseWhitespace: true, cjkSpacing: true).apply(to: " \u{3000} ") == " ")
        #expect(TextRule(form: .none, trim: true, cjkSpacing: true).apply(to: " \u{3000} ") == "")
        #expect(Self.cjk.apply(to: "") == "")
    }

    @Test func marksBelongToTheCharacterTheyAreWrittenOn() {
        // An ideographic variation selector continues its ideograph.
        #expect(Self.cjk.apply(to: "葛\u{E0100} abc") == "葛\u{E0100}abc")
        #expect(Self.cjk.apply(to: "e\u{301} 中") == "e\u{301}中")
        #expect(Self.cjk.apply(to: "e\u{301} x") == "e\u{301} x")
        // A space that carries a mark keeps it: NFKC writes ゛ as U+0020 U+3099.
        #expect(TextRule(form: .nfkc).apply(to: "か\u{309B}") == "か \u{3099}")
        #expect(Self.all.apply(to: "か\u{309B} です") == "か \u{3099}です")
        #expect(Self.cjk.apply(to: "中 \u{301}x") == "中 \u{301}x")
        // At the start, trimming still removes it (as it always did).
        #expect(TextRule(form: .none, trim: true, cjkSpacing: true).apply(to: " \u{3099}中") == "\u{3099}中")
        // A mark after white space has no base: only its own range counts.
        #expect(Self.cjk.apply(to: "a \u{301} b") == "a \u{301} b")
        #expect(Self.cjk.apply(to: "a \u{3099} b") == "a \u{3099}b")
    }

    @Test func casingAndFormComeFirst() {
        let folded = TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true, cjkSpacing: true)
        #expect(folded.apply(to: "  ＩＰＨＯＮＥ　手机  Straße ") == "iphone手机strasse")
        #expect(folded.apply(to: "ＩＰＨＯＮＥ Straße") == "iphone strasse")
    }

    @Test func theConfigurationHashAndNotesNameTheOption() throws {
        func hash(_ rule: TextRule? = nil, fields: [String: TextRule] = [:]) -> String {
            TaskPolicy(task: "t", modelName: "m", modelVersion: "1", textRule: rule, fieldTextRules: fields).configHash
        }
        let hashes = [
            hash(), hash(TextRule(cjkSpacing: true)), hash(TextRule(collapseWhitespace: true, cjkSpacing: true)),
            hash(fields: ["q": TextRule(cjkSpacing: true)]), hash(fields: ["q": .nfc]),
        ]
        #expect(Set(hashes).count == hashes.count)
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", fieldTextRules: ["q": Self.all])
        let request = try Canonicalizer().canonicalize(
            body: utf8(#"{"file": "QUJD", "q": [" 怎么 退货 ？ ", "ok"], "note": "a 中"}"#), policy: policy, scope: nil
        )
        #expect(request.notes.contains("normalised 1 string to NFKC, trimmed, white space collapsed, white space next to CJK removed"))
        #expect(String(decoding: request.canonicalBytes, as: UTF8.self).hasSuffix(#""note":"a 中","q":["怎么退货?","ok"]}"#))
        #expect(request.textChanges.isEmpty)  // not recorded unless asked
    }

    @Test func changesAreRecordedForExplainWhenAsked() throws {
        let policy = TaskPolicy.paddleXOCR(
            modelName: "m", modelVersion: "1", textRule: TextRule(trim: true), fieldTextRules: ["q": Self.all]
        )
        var canonicalizer = Canonicalizer()
        canonicalizer.recordsTextChanges = true
        let request = try canonicalizer.canonicalize(
            body: utf8(#"{"note": " x ", "file": "QUJD", "q": {"a": ["ok", " 怎么 退货 ？ "]}, "logId": " y "}"#),
            policy: policy, scope: nil
        )
        #expect(request.textChanges == [
            TextChange(path: "$.note", rule: TextRule(trim: true), before: " x ", after: "x"),
            TextChange(path: "$.q.a[1]", rule: Self.all, before: " 怎么 退货 ？ ", after: "怎么退货?"),
        ])
    }

    // MARK: - Against a naive reference

    /// The rule of §4.1 written as directly as possible: statuses by recursion over the scalar array, runs
    /// found by index, each decided on its own.
    static func reference(_ rule: TextRule, _ text: String) -> String {
        let s = Array(rule.form.apply(to: text).unicodeScalars)
        func white(_ k: Int) -> Bool { s[k].properties.isWhitespace }
        func isCJK(_ k: Int) -> Bool {
            if white(k) { return false }
            if CJKScalars.ranges.contains(where: { $0.contains(s[k].value) }) { return true }
            return k > 0 && !white(k - 1) && !TextBoundary.allowsCut(before: s[k]) && isCJK(k - 1)
        }
        var out = String.UnicodeScalarView()
        var k = 0
        while k < s.count {
            guard white(k) else {
                out.append(s[k])
                k += 1
                continue
            }
            var end = k
            while end < s.count, white(end) { end += 1 }
            let hasBefore = k > 0, hasAfter = end < s.count
            let removed: Bool
            if rule.trimsWhitespace, !hasBefore || !hasAfter {
                removed = true
            } else if rule.removesCJKSpacing, !hasAfter || TextBoundary.allowsCut(before: s[end]),
                (hasBefore && isCJK(k - 1)) || (hasAfter && isCJK(end)) {
                removed = true
            } else {
                removed = false
            }
            if !removed {
                if rule.collapsesWhitespace { out.append(" ") } else { out.append(contentsOf: s[k..<end]) }
            }
            k = end
        }
        return String(out)
    }

    static let pool: [Unicode.Scalar] = {
        var values: [UInt32] = [0x61, 0x62, 0x41, 0x31, 0x3F, 0x2E, 0x20, 0x20, 0x20, 0x09, 0x0A, 0x3000, 0x3000, 0xA0, 0x2028, 0x85]
        values += [0x4E2D, 0x6587, 0x624B, 0x3042, 0x30AB, 0x304B, 0x3002, 0x3001, 0x300C, 0xFF1F, 0xFF01, 0xFF08, 0xFF76, 0xFF9E, 0x3105, 0x20000, 0xF900]
        values += [0xAC00, 0xD55C, 0x1100, 0x1161, 0x11A8, 0x3131, 0xFF21, 0xFF10, 0x3B1, 0x416]  // Hangul, fullwidth letters, Greek, Cyrillic
        values += [0x301, 0x316, 0x3099, 0x309A, 0x309B, 0x302A, 0x302C, 0xFE0F, 0xE0100, 0x200D, 0x200B]  // marks and the like
        values += [0xFDFA, 0xFB01, 0x2460, 0x3250, 0x32FF, 0x3300, 0x4DC0, 0x1F200, 0x16FE3, 0x2FE0, 0x50000]  // odd ones
        for range in CJKScalars.ranges {  // the edges of every range
            values += [range.lowerBound - 1, range.lowerBound, range.upperBound, range.upperBound + 1]
        }
        return values.compactMap(Unicode.Scalar.init)
    }()

    static func randomText(_ generator: inout SeededGenerator) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...24, using: &generator) {
            scalars.append(pool.randomElement(using: &generator)!)
        }
        return String(scalars)
    }

    static let rules: [TextRule] = [false, true].flatMap { trim in
        [false, true].flatMap { collapse in
            [TextNormalization.none, .nfc, .nfkc].flatMap { form in
                [TextRule(form: form, trim: trim, collapseWhitespace: collapse, cjkSpacing: true),
                 TextRule(form: form, trim: trim, collapseWhitespace: collapse)]
            }
        }
    }

    @Test func matchesTheReferenceOnRandomMixedText() {
        var generator = SeededGenerator(seed: 0xC1C)
        var removed = 0
        for round in 0..<20_000 {
            let text = Self.randomText(&generator)
            let rule = Self.rules[round % Self.rules.count]
            let actual = rule.apply(to: text)
            #expect(actual.unicodeScalars.elementsEqual(Self.reference(rule, text).unicodeScalars), "\(rule): \(hex(text))")
            if rule.removesCJKSpacing, actual.unicodeScalars.count < TextRule(form: rule.form, trim: rule.trimsWhitespace, collapseWhitespace: rule.collapsesWhitespace).apply(to: text).unicodeScalars.count {
                removed += 1
            }
        }
        #expect(removed > 1_000)  // the random text does meet the rule
    }

    /// A second pass changes nothing, and the pass changes only white space and leaves the text as
    /// normalised as the form made it. (Foundation's NFKC itself is not idempotent: it does not compose
    /// across the edge of a compatibility decomposition, so `ｶﾞ` needs two rounds to become `ガ`; where the
    /// form's result is stable, so is the whole rule's.)
    @Test func isIdempotentAndTouchesOnlyWhiteSpace() {
        var generator = SeededGenerator(seed: 0x1DE)
        var stableForms = 0
        for round in 0..<20_000 {
            let text = Self.randomText(&generator)
            let rule = Self.rules[round % Self.rules.count]
            let once = rule.apply(to: text)
            #expect(rule.spaced(once).unicodeScalars.elementsEqual(once.unicodeScalars), "\(rule): \(hex(text))")
            let formed = rule.form.apply(to: text)
            #expect(once.unicodeScalars.filter { !$0.properties.isWhitespace }
                .elementsEqual(formed.unicodeScalars.filter { !$0.properties.isWhitespace }), "\(rule): \(hex(text))")
            if rule.form.apply(to: formed).unicodeScalars.elementsEqual(formed.unicodeScalars) {
                stableForms += 1
                #expect(rule.form.apply(to: once).unicodeScalars.elementsEqual(once.unicodeScalars), "\(rule): \(hex(text))")
                #expect(rule.apply(to: once).unicodeScalars.elementsEqual(once.unicodeScalars), "\(rule): \(hex(text))")
            }
        }
        #expect(stableForms > 15_000)
    }

    /// Mutated real text (scalars replaced, runs duplicated, cut anywhere) through the whole canonicaliser:
    /// never a trap, always the reference.
    @Test func mutatedTextThroughTheCanonicalizer() throws {
        var generator = SeededGenerator(seed: 0xF022)
        let seeds = ["  怎么 退货 ？ 我的 iPhone 15 坏了。", "これは ペン です。 This is a pen.\n", "아버지가 방에 들어가신다 中文 abc", "か\u{309B} 葛\u{E0100} x"]
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", fieldTextRules: ["q": Self.all])
        for round in 0..<3_000 {
            var scalars = Array(seeds[round % seeds.count].unicodeScalars)
            for _ in 0..<Int.random(in: 1...4, using: &generator) where !scalars.isEmpty {
                let at = Int.random(in: 0..<scalars.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: scalars[at] = Self.pool.randomElement(using: &generator)!
                case 1: scalars.insert(contentsOf: scalars[at..<min(scalars.count, at + 6)], at: Int.random(in: 0...scalars.count, using: &generator))
                case 2: scalars.removeSubrange(at...)
                default: scalars.insert(Self.pool.randomElement(using: &generator)!, at: at)
                }
            }
            let text = String(String.UnicodeScalarView(scalars))
            var body: [UInt8] = []
            JSONWriter.writeString(text, into: &body)
            let request = try Canonicalizer().canonicalize(body: utf8(#"{"file": "QUJD", "q": "#) + body + utf8("}"), policy: policy, scope: nil)
            #expect(request.canonicalForm["q"]?.stringValue == Self.reference(Self.all, text), "\(hex(text))")
        }
    }

    // MARK: - Linear cost

    /// One pass over the scalars: hostile shapes of a whole text limit (1 MiB) come out exact, where a pass
    /// that rescanned a run or its neighbours would take hours.
    @Test func hostileTextOfAWholeLimitIsOnePass() throws {
        let limit = TaskPolicy.defaultMaxTextBytes
        let cases: [(text: String, expected: String)] = [
            (String(repeating: "中 ", count: limit / 4), String(repeating: "中", count: limit / 4)),
            (String(repeating: " ", count: limit - 3) + "中", "中"),
            ("中" + String(repeating: "\u{3000}", count: limit / 3 - 1), "中"),
            (String(repeating: "a ", count: limit / 2), String(repeating: "a ", count: limit / 2 - 1) + "a"),
            (String(repeating: "a \u{301}", count: limit / 4), String(repeating: "a \u{301}", count: limit / 4)),
            (String(repeating: "葛" + String(repeating: "\u{E0100}", count: 20) + " ", count: limit / 100), String(repeating: "葛" + String(repeating: "\u{E0100}", count: 20), count: limit / 100)),
        ]
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", fieldTextRules: ["q": Self.all])
        for (text, expected) in cases {
            #expect(text.utf8.count <= limit)
            var body: [UInt8] = []
            JSONWriter.writeString(text, into: &body)
            let request = try Canonicalizer().canonicalize(body: utf8(#"{"file": "QUJD", "q": "#) + body + utf8("}"), policy: policy, scope: nil)
            #expect(request.canonicalForm["q"]?.stringValue == expected)
        }
    }
}

private func hex(_ text: String) -> String {
    text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " ")
}
