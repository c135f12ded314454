@testable import DejaCore
@testable import DejaRedis
import Foundation
import Testing

/// Replays the fuzzer's minimised RESP corpus (Fuzz/seeds/resp.seeds, kept by scripts/fuzz.sh) through the
/// entry point the fuzzer drives.
@Suite struct RESPFuzzSeedsReplayTests {
    @Test func everySeedReadsWithoutATrap() throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/seeds/resp.seeds")
        let inputs = FuzzReader.inputs(packed: Array(try Data(contentsOf: url)))
        #expect(inputs.count >= 20, "Fuzz/seeds/resp.seeds holds \(inputs.count) inputs; scripts/fuzz.sh keeps them")
        for bytes in inputs {
            bytes.withUnsafeBufferPointer { RESPFuzzReader.run($0) }
        }
    }
}
