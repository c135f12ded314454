extension SensitiveKind {
    /// The position of this kind in the priority order: when matches overlap, the lower wins.
    var priority: Int {
        switch self {
        case .idNumber: 0
        case .creditCode: 1
        case .bankCard: 2
        case .mobile: 3
        case .email: 4
        }
    }

    /// `text`, a match of this kind, with the hidden characters replaced by `*`; same length.
    func masked(_ text: some Collection<UInt8>) -> [UInt8] {
        var masked = Array(text)
        switch self {
        case .idNumber: ResidentIDNumber.mask(&masked)
        case .creditCode: CreditCode.mask(&masked)
        case .bankCard: BankCardNumber.mask(&masked)
        case .mobile: MobileNumber.mask(&masked)
        case .email: EmailAddress.mask(&masked)
        }
        return masked
    }
}
