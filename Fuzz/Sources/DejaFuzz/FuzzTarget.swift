// libFuzzer's entry point over every reader of untrusted bytes (DejaCore's `FuzzReader`, DejaRedis's
// `RESPFuzzReader`). With DEJA_FUZZ_READER=<name> every input goes to that reader — scripts/fuzz.sh runs
// each reader on its own this way, with its own corpus; without it, the first byte of an input selects
// the reader and the rest is its input.
import Foundation
@testable import DejaCore
@testable import DejaRedis

/// One reader's run over its input.
private let readers: [(String, (UnsafeBufferPointer<UInt8>) -> Void)] =
    FuzzReader.allCases.map { reader in (reader.rawValue, { reader.run($0) }) } + [("resp", { RESPFuzzReader.run($0) })]

private let chosen: ((UnsafeBufferPointer<UInt8>) -> Void)? = {
    guard let name = ProcessInfo.processInfo.environment["DEJA_FUZZ_READER"] else { return nil }
    guard let reader = readers.first(where: { $0.0 == name }) else {
        fatalError("DEJA_FUZZ_READER=\(name): not one of \(readers.map(\.0).joined(separator: ", "))")
    }
    return reader.1
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: start, count: count)
    if let chosen {
        chosen(input)
    } else {
        readers[Int(input[0]) % readers.count].1(UnsafeBufferPointer(rebasing: input[1...]))
    }
    return 0
}
