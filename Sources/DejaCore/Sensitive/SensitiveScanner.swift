/// Finds and masks sensitive data — ID numbers, credit codes, bank cards, mobile numbers, e-mail
/// addresses — in text and in JSON answers, by format and checksum, without a regular expression engine.
///
/// Pure and thread-safe. Time is linear in the input. A match is never part of a longer run of ASCII
/// letters and digits; when candidates of two kinds overlap, the kind declared first in
/// ``SensitiveKind`` wins. See each ``SensitiveKind`` case for what counts and how it is masked.
public enum SensitiveScanner {
    /// Matches in one piece of text, in order, non-overlapping. `previous` is the text just before
    /// (e.g. the previous OCR line), used only for a mobile number's context word.
    public static func matches(
        in text: String,
        previous: String? = nil,
        kinds: Set<SensitiveKind> = Set(SensitiveKind.allCases)
    ) -> [SensitiveMatch] {
        let previousEndsWithContextWord = previous.map { previous in
            Array(previous.utf8).withUnsafeBufferPointer(MobileContext.endsWithWord)
        } ?? false
        return Array(text.utf8).withUnsafeBufferPointer { bytes in
            SensitiveFinder.hits(in: bytes, previousEndsWithContextWord: previousEndsWithContextWord, kinds: kinds)
                .map { match($0, in: bytes) }
        }
    }

    /// Matches in every string value of a JSON document (object keys are not scanned), in document
    /// order; each string's `previous` is the string value before it. Bytes that are not valid JSON
    /// are scanned as one UTF-8 text.
    ///
    /// Number tokens are not scanned: an ID or card number written as a JSON number is not found.
    public static func matches(inJSON bytes: [UInt8], kinds: Set<SensitiveKind> = Set(SensitiveKind.allCases)) -> [SensitiveMatch] {
        bytes.withUnsafeBufferPointer { document in
            var matches: [SensitiveMatch] = []
            forEachText(in: document, kinds: kinds) { text, hits, _ in
                matches.append(contentsOf: hits.map { match($0, in: text) })
            }
            return matches
        }
    }

    /// `bytes` with every match of `kinds` masked, and how many of each kind were masked (kinds with no
    /// match are absent).
    ///
    /// Every byte outside the masked characters is kept as it was (the answer is stored as the model
    /// wrote it): a masked character becomes one `*`, and where it was spelled as an escape (`\u0031`,
    /// `\/`) the whole escape becomes the `*`; every other escape stays as written. The result is valid
    /// JSON whenever the input was (by RFC 8259's grammar, duplicate names and lone surrogate escapes
    /// included). Object keys and number tokens are not scanned. Input that is not valid JSON is
    /// masked in place as one UTF-8 text.
    public static func redact(json bytes: [UInt8], kinds: Set<SensitiveKind>) -> (bytes: [UInt8], counts: [SensitiveKind: Int]) {
        var counts: [SensitiveKind: Int] = [:]
        var output: [UInt8] = []
        var copied = 0
        bytes.withUnsafeBufferPointer { document in
            forEachText(in: document, kinds: kinds) { text, hits, token in
                guard !hits.isEmpty else { return }
                if output.isEmpty { output.reserveCapacity(document.count) }
                output.append(contentsOf: document[copied..<token.content.lowerBound])
                let content = UnsafeBufferPointer(rebasing: document[token.content])
                var masked = Array(text)
                for hit in hits {
                    masked.replaceSubrange(hit.range, with: hit.kind.masked(text[hit.range]))
                    counts[hit.kind, default: 0] += 1
                }
                if token.hasEscapes {
                    appendMasked(content, text: text, masked: masked, to: &output)
                } else {
                    output.append(contentsOf: masked)
                }
                copied = token.content.upperBound
            }
        }
        guard copied > 0 else { return (bytes, counts) }
        output.append(contentsOf: bytes[copied...])
        return (output, counts)
    }

    /// Calls `body` with the text of each string value of `document` (its content's range as the token),
    /// or, when `document` is not JSON, once with the whole of it.
    private static func forEachText(
        in document: UnsafeBufferPointer<UInt8>,
        kinds: Set<SensitiveKind>,
        _ body: (UnsafeBufferPointer<UInt8>, [SensitiveFinder.Hit], JSONStringTokens.Token) -> Void
    ) {
        guard let tokens = JSONStringTokens.values(in: document) else {
            let hits = SensitiveFinder.hits(in: document, previousEndsWithContextWord: false, kinds: kinds)
            body(document, hits, JSONStringTokens.Token(content: 0..<document.count, hasEscapes: false))
            return
        }
        var previousEndsWithContextWord = false
        for token in tokens {
            let content = UnsafeBufferPointer(rebasing: document[token.content])
            func scan(_ text: UnsafeBufferPointer<UInt8>) {
                let hits = SensitiveFinder.hits(in: text, previousEndsWithContextWord: previousEndsWithContextWord, kinds: kinds)
                body(text, hits, token)
                previousEndsWithContextWord = MobileContext.endsWithWord(text)
            }
            if token.hasEscapes {
                JSONEscapes.decode(content).text.withUnsafeBufferPointer(scan)
            } else {
                scan(content)
            }
        }
    }

    /// Appends `content` (a string token's escaped content) with each source character or escape of a
    /// byte that masking changed replaced by `*`.
    private static func appendMasked(
        _ content: UnsafeBufferPointer<UInt8>,
        text: UnsafeBufferPointer<UInt8>,
        masked: [UInt8],
        to output: inout [UInt8]
    ) {
        let sources = JSONEscapes.decode(content).sources
        var copied = 0
        for index in masked.indices where masked[index] != text[index] {
            let source = sources[index]
            output.append(contentsOf: content[copied..<source])
            output.append(UInt8(ascii: "*"))
            copied = source + JSONEscapes.unitLength(at: source, in: content)
        }
        output.append(contentsOf: content[copied...])
    }

    private static func match(_ hit: SensitiveFinder.Hit, in text: UnsafeBufferPointer<UInt8>) -> SensitiveMatch {
        let found = text[hit.range]
        return SensitiveMatch(
            kind: hit.kind,
            text: String(decoding: found, as: UTF8.self),
            masked: String(decoding: hit.kind.masked(found), as: UTF8.self)
        )
    }
}
