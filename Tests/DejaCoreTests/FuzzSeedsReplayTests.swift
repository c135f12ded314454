@testable import DejaCore
import Foundation
import Testing

/// Replays the fuzzer's minimised corpus (Fuzz/seeds/<reader>.seeds, kept by scripts/fuzz.sh) through the
/// same entry point the fuzzer drives, so an input that once found a bug, or reached new code, is run on
/// every test run. A reader that traps fails the run.
@Suite struct FuzzSeedsReplayTests {
    /// The inputs of one reader's seeds file in the repository's Fuzz/seeds folder.
    static func inputs(_ reader: String, from file: String = #filePath) throws -> [[UInt8]] {
        let url = URL(fileURLWithPath: file)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/seeds/\(reader).seeds")
        return FuzzReader.inputs(packed: Array(try Data(contentsOf: url)))
    }

    @Test(arguments: FuzzReader.allCases)
    func everySeedReadsWithoutATrap(_ reader: FuzzReader) throws {
        let inputs = try Self.inputs(reader.rawValue)
        #expect(inputs.count >= 20, "Fuzz/seeds/\(reader.rawValue).seeds holds \(inputs.count) inputs; scripts/fuzz.sh keeps them")
        for bytes in inputs {
            bytes.withUnsafeBufferPointer { reader.run($0) }
        }
    }

    @Test func theSeedsFormatReadsBackWhatWasWritten() {
        let packed: [UInt8] = [0, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 0, 0, 0, 1, 0, 0xCC]
        #expect(FuzzReader.inputs(packed: packed) == [[0xAA, 0xBB], []])  // the truncated last record is left out
        #expect(FuzzReader.inputs(packed: []) == [])
    }
}
