#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells every process using a SQLite ledger file that its budgets changed, without a query.
///
/// A miss's reservation first asks whether any budget applies to the caller; almost always none does,
/// and that read was a trip to the ledger's thread and back on every miss. ``SQLiteLedger`` now
/// remembers "no budget applies" per key, for as long as this signal stands: 8 bytes in a file next to
/// the ledger (`<ledger>-quotas`), read with one `pread` on the request's own thread. Every change to
/// the budgets (``SQLiteLedger/setQuota(_:)``, ``SQLiteLedger/removeQuota(tenant:keyID:period:)``,
/// ``SQLiteLedger/topUp(tenant:keyID:tokens:)``, in any process, such as `deja quota set` while the
/// gateway runs) writes 8 new random bytes there once it is committed, so the next reservation in
/// every process reads the budgets again.
///
/// A process that dies between committing a budget and writing the signal, or a file removed or not
/// writable, cannot leave a budget unenforced for long: what a ledger remembers also expires after
/// ``SQLiteLedger/quotaMemoSeconds``. A budget written into the file by other means (SQL by hand) is seen
/// within that time too.
final class QuotaSignal: Sendable {
    private let path: String
    /// The file open for reading, or -1 when it could not be opened (then nothing is remembered).
    private let descriptor: Int32

    /// Opens the signal next to the ledger at `ledgerPath`, creating it when missing.
    init(ledgerPath: String) {
        path = ledgerPath + "-quotas"
        if access(path, F_OK) != 0 { Self.write(path) }
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// The signal as it stands; `nil` when it cannot be read (then no answer may be remembered).
    func current() -> UInt64? {
        guard descriptor >= 0 else { return nil }
        var value: UInt64 = 0
        let read = withUnsafeMutableBytes(of: &value) { pread(descriptor, $0.baseAddress, 8, 0) }
        return read == 8 ? value : nil
    }

    /// Writes a new signal: call after committing a change to the budgets.
    func raise() {
        Self.write(path)
    }

    private static func write(_ path: String) {
        let file = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard file >= 0 else { return }
        var value = UInt64.random(in: 1...UInt64.max)
        _ = withUnsafeBytes(of: &value) { pwrite(file, $0.baseAddress, 8, 0) }
        close(file)
    }
}
