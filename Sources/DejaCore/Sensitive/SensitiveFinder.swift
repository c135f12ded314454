/// Finds sensitive data in one text's UTF-8 bytes: every detector's candidates, then the overlaps
/// settled by priority.
///
/// One pass over the bytes; each detector looks at a bounded number of bytes from each place a match
/// may start, except e-mail, which grows out of each `@` without crossing another. Time is linear in the
/// text.
enum SensitiveFinder {
    /// One match: its kind and its byte range in the text.
    struct Hit: Equatable {
        var kind: SensitiveKind
        var range: Range<Int>
    }

    /// The matches of `kinds` in `bytes`, in order and not overlapping. `previousEndsWithContextWord` says
    /// whether the text before this one ended with a phone context word (see ``MobileContext``).
    static func hits(
        in bytes: UnsafeBufferPointer<UInt8>,
        previousEndsWithContextWord: Bool,
        kinds: Set<SensitiveKind>
    ) -> [Hit] {
        let kindsByPriority = SensitiveKind.allCases.filter(kinds.contains)
        guard !kindsByPriority.isEmpty, !bytes.isEmpty else { return [] }
        var candidates = [[Range<Int>]](repeating: [], count: SensitiveKind.allCases.count)
        var standingAlone: Range<Int>?
        for start in bytes.indices {
            let byte = bytes[start]
            let mayStart = SensitiveText.isAlphanumeric(byte)
                ? SensitiveText.isBoundary(before: start, in: bytes)
                : byte == UInt8(ascii: "+") || byte == UInt8(ascii: "@")
            guard mayStart else { continue }
            for kind in kindsByPriority {
                let slot = kind.priority
                if let last = candidates[slot].last, last.upperBound > start, kind != .email { continue }
                guard let range = candidate(kind, at: start, in: bytes) else { continue }
                if kind == .email, let last = candidates[slot].last, last.upperBound > range.lowerBound { continue }
                if kind == .mobile {
                    let alone = standingAlone ?? MobileContext.trimmedRange(bytes)
                    standingAlone = alone
                    guard previousEndsWithContextWord || range == alone
                        || MobileContext.hasWord(before: range.lowerBound, in: bytes)
                    else { continue }
                }
                candidates[slot].append(range)
            }
        }
        var chosen: [Hit] = []
        for kind in kindsByPriority {
            chosen = merge(chosen, candidates[kind.priority].map { Hit(kind: kind, range: $0) })
        }
        return chosen
    }

    /// The range of a `kind` match at `start` (for e-mail: around the `@` at `start`), or `nil`.
    private static func candidate(_ kind: SensitiveKind, at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let isAt = bytes[start] == UInt8(ascii: "@")
        let end: Int?
        switch kind {
        case .idNumber: end = ResidentIDNumber.end(from: start, in: bytes)
        case .creditCode: end = CreditCode.end(from: start, in: bytes)
        case .bankCard: end = BankCardNumber.end(from: start, in: bytes)
        case .mobile: end = MobileNumber.end(from: start, in: bytes)
        case .email: return isAt ? EmailAddress.range(around: start, in: bytes) : nil
        }
        return isAt ? nil : end.map { start..<$0 }
    }

    /// `chosen` plus each of `candidates` (sorted, not overlapping each other) that overlaps none of it;
    /// sorted. Linear in both.
    private static func merge(_ chosen: [Hit], _ candidates: [Hit]) -> [Hit] {
        guard !candidates.isEmpty else { return chosen }
        var merged: [Hit] = []
        merged.reserveCapacity(chosen.count + candidates.count)
        var next = 0
        for candidate in candidates {
            while next < chosen.count, chosen[next].range.upperBound <= candidate.range.lowerBound {
                merged.append(chosen[next])
                next += 1
            }
            if next < chosen.count, chosen[next].range.lowerBound < candidate.range.upperBound { continue }
            merged.append(candidate)
        }
        merged.append(contentsOf: chosen[next...])
        return merged
    }
}
