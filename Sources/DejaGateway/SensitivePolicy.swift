import DejaCore

/// What a task does with an answer in which a detector found sensitive data (`tasks[].sensitive`).
///
/// Detectors run on the model's answer before it is stored, and on the input of a text task (one
/// without binary members). Per detector:
/// - `store`: kept as the model wrote it (sealed at rest like every answer).
/// - `redact`: the stored copy masks each match; the request that paid for the answer gets it in full,
///   every later one (hits, coalesced requests, idempotent replays) the masked copy with
///   `x-deja-redacted: <count>`.
/// - `skip`: answered in full and never stored: the next identical request is a miss and billed again.
///   Requests that share the answer as it is made (coalesced, idempotent replays) get it masked.
///
/// An input match can only be skipped: `redact` masks it where the answer repeats it.
public struct SensitivePolicy: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case store, redact, skip
    }

    public var actions: [SensitiveKind: Action]

    public init(actions: [SensitiveKind: Action] = Self.defaultActions) {
        self.actions = actions
    }

    /// Resident ID and bank card numbers are not stored at all; mobile numbers and e-mail addresses
    /// are masked; unified social credit codes (printed on every Chinese invoice, public) are stored.
    public static let defaultActions: [SensitiveKind: Action] = [
        .idNumber: .skip, .bankCard: .skip, .creditCode: .store, .mobile: .redact, .email: .redact,
    ]

    public func action(for kind: SensitiveKind) -> Action { actions[kind] ?? .store }

    /// What the detectors found in one answer, and what the task does with it.
    public struct Screening: Sendable {
        /// Every match, with the action its kind has in this task.
        public var matches: [(match: SensitiveMatch, action: Action, inInput: Bool)]
        /// A match whose action is `skip`: the answer is not stored.
        public var skip: Bool { matches.contains { $0.action == .skip } }
        /// The kinds to mask in the copy others get: those to redact, and those to skip.
        public var masked: Set<SensitiveKind> {
            Set(matches.filter { $0.action != .store }.map(\.match.kind))
        }
    }

    /// Runs the detectors over `answer` (JSON string values) and, when given, the text `input`.
    public func screen(answer: [UInt8], input: [UInt8]?) -> Screening {
        var matches: [(match: SensitiveMatch, action: Action, inInput: Bool)] = []
        for match in SensitiveScanner.matches(inJSON: answer) {
            matches.append((match, action(for: match.kind), false))
        }
        if let input {
            for match in SensitiveScanner.matches(inJSON: input) {
                // Input can only be skipped: masking applies to what the answer repeats.
                let action = action(for: match.kind)
                matches.append((match, action, true))
            }
        }
        return Screening(matches: matches)
    }
}
