import NIOCore

/// The RESP reader as the fuzzer (the Fuzz/ package, scripts/fuzz.sh) and the replay of its corpus in the
/// tests drive it: tokens are read from the input until it needs more bytes or is refused, and every
/// token's value is walked to the bottom, arrays and maps included.
///
/// Traps when an invariant the connection relies on breaks: a token that consumed nothing, or a `nil`
/// (need more bytes) that moved the reader.
enum RESPFuzzReader {
    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        var buffer = ByteBuffer(bytes: data)
        // The limits a connection uses: what is fuzzed is what reads replies.
        let limits = RESPLimits.default
        while buffer.readableBytes > 0 {
            let before = buffer.readerIndex
            let token: RESPToken?
            do {
                token = try RESPToken(consuming: &buffer, limits: limits)
            } catch {
                return
            }
            guard let token else {
                if buffer.readerIndex != before { fatalError("a token that needs more bytes moved the reader") }
                return
            }
            if buffer.readerIndex <= before { fatalError("a token consumed nothing") }
            walk(token, depth: 0)
        }
    }

    private static func walk(_ token: RESPToken, depth: Int) {
        guard depth < 64 else { return }
        switch token.value {
        case .array(let elements), .set(let elements), .push(let elements):
            for element in elements { walk(element, depth: depth + 1) }
        case .map(let entries), .attribute(let entries):
            for (key, value) in entries {
                walk(key, depth: depth + 1)
                walk(value, depth: depth + 1)
            }
        default:
            _ = token.description
        }
    }
}
