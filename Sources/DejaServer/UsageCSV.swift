import DejaLedger
import Foundation

/// Usage as CSV (RFC 4180), for invoices: what `deja usage --csv` and `GET /v1/usage?format=csv` export.
///
/// One line per record (every billed answer; every request of a task with `usage.records: all`) and one
/// per hourly count of requests that billed nothing, whose `time` is the start of the hour, `latency_ms`
/// empty and `requests` the number of requests counted; a record's `requests` is 1. Lines are in time
/// order and add up to the report of the same range.
public enum UsageCSV {
    public static let header =
        "time,tenant,key_id,task,outcome,status,metered_tokens,billed_tokens,saved_tokens,latency_ms,model_seconds,requests"

    public static func render(_ records: [UsageRecord], counts: [UsageCount] = []) -> String {
        var text = header + "\r\n"
        text.reserveCapacity(header.utf8.count + (records.count + counts.count) * 120)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func line(_ fields: [String]) {
            text += fields.map(escape).joined(separator: ",") + "\r\n"
        }
        func write(_ record: UsageRecord) {
            let saved = record.outcome.isServedFromCache ? record.meteredTokens - record.billedTokens : 0
            line([
                formatter.string(from: Date(timeIntervalSince1970: record.time)),
                record.tenant, record.keyID, record.task, record.outcome.rawValue, String(record.status),
                String(record.meteredTokens), String(record.billedTokens), String(saved),
                String(format: "%.3f", Double(record.latencyMicros) / 1000), String(format: "%.6f", record.modelSeconds), "1",
            ])
        }
        func write(_ count: UsageCount) {
            let group = count.group
            line([
                formatter.string(from: Date(timeIntervalSince1970: group.hour)),
                group.tenant, group.keyID, group.task, group.outcome.rawValue, String(group.status),
                String(count.meteredTokens), String(count.billedTokens), String(count.savedTokens),
                "", String(format: "%.6f", count.modelSecondsSaved), String(count.requests),
            ])
        }
        // Both come ordered by time; an hour's counts go before the records of that hour.
        var next = 0
        for record in records {
            while next < counts.count, counts[next].group.hour <= record.time {
                write(counts[next])
                next += 1
            }
            write(record)
        }
        for count in counts[next...] { write(count) }
        return text
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
