extension TextRule {
    /// `text` with its white space trimmed, removed next to CJK text and collapsed as this rule asks, in one
    /// pass over its scalars (docs/canonical-form.md §4.1).
    ///
    /// A run is a maximal sequence of `White_Space` scalars. Each non-white-space scalar is CJK when it is in
    /// ``CJKScalars``, or when it continues a CJK scalar right before it (a mark on an ideograph: no
    /// normalisation piece may start before it, ``TextBoundary/allowsCut(before:)``). Each run, in order:
    ///
    /// 1. with trimming, a run at the start or the end is removed;
    /// 2. else, with CJK spacing, a run is removed when the scalar before it or the scalar after it is CJK,
    ///    unless the scalar after it continues what precedes it (a space that carries a mark keeps it: NFKC
    ///    writes `゛` as U+0020 U+3099, and removing that space would put the mark on the letter before);
    /// 3. else, with collapsing, it becomes one U+0020;
    /// 4. else it stays as it is.
    ///
    /// Non-white-space scalars are never changed, and a run before a scalar that continues what precedes it
    /// is never removed except at the start, so the result is as normalised as `text` and applying the pass
    /// again changes nothing.
    func spaced(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.contains(where: { $0.properties.isWhitespace }) else { return text }
        var out = String.UnicodeScalarView()
        var run: [Unicode.Scalar] = []
        var seenText = false
        var lastIsCJK = false  // the last non-white-space scalar so far
        for scalar in scalars {
            if scalar.properties.isWhitespace {
                run.append(scalar)
                continue
            }
            let startsCharacter = TextBoundary.allowsCut(before: scalar)
            let isCJK = CJKScalars.contains(scalar) || (run.isEmpty && lastIsCJK && !startsCharacter)
            if !run.isEmpty {
                let removed =
                    (trimsWhitespace && !seenText)
                    || (removesCJKSpacing && startsCharacter && ((seenText && lastIsCJK) || isCJK))
                if !removed { append(run, to: &out) }
                run.removeAll(keepingCapacity: true)
            }
            out.append(scalar)
            seenText = true
            lastIsCJK = isCJK
        }
        if !run.isEmpty, !trimsWhitespace, !(removesCJKSpacing && seenText && lastIsCJK) {
            append(run, to: &out)
        }
        return String(out)
    }

    /// Appends a run that stays: one U+0020 when collapsing, else the run itself.
    private func append(_ run: [Unicode.Scalar], to out: inout String.UnicodeScalarView) {
        if collapsesWhitespace { out.append(" ") } else { out.append(contentsOf: run) }
    }
}
