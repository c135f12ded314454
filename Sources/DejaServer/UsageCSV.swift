import DejaLedger
import Foundation

/// Usage records as CSV (RFC 4180), one line per request, for invoices: what `deja usage --csv` and
/// `GET /v1/usage?format=csv` export.
public enum UsageCSV {
    public static let header = "time,tenant,key_id,task,outcome,status,metered_tokens,billed_tokens,saved_tokens,latency_ms,model_seconds"

    public static func render(_ records: [UsageRecord]) -> String {
        var text = header + "\r\n"
        text.reserveCapacity(header.utf8.count + records.count * 120)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for record in records {
            let saved = record.outcome.isServedFromCache ? record.meteredTokens - record.billedTokens : 0
            let fields = [
                formatter.string(from: Date(timeIntervalSince1970: record.time)),
                record.tenant, record.keyID, record.task, record.outcome.rawValue, String(record.status),
                String(record.meteredTokens), String(record.billedTokens), String(saved),
                String(format: "%.3f", Double(record.latencyMicros) / 1000), String(format: "%.6f", record.modelSeconds),
            ]
            text += fields.map(escape).joined(separator: ",") + "\r\n"
        }
        return text
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
