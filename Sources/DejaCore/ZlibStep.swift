import CompressNIO
import NIOCore

/// One call of a zlib inflater into a cleared window, as the PNG and PDF readers drive it: whether the
/// stream ended, or why it cannot go on.
enum ZlibStep {
    enum Failure: Error {
        case noProgress, truncated, corrupt

        /// `zlib stream makes no progress`, `… is truncated`, `… is corrupt`.
        var reason: String {
            switch self {
            case .noProgress: "zlib stream makes no progress"
            case .truncated: "zlib stream is truncated"
            case .corrupt: "zlib stream is corrupt"
            }
        }
    }

    /// Inflates from `input` into `window` (cleared first) until the window is full or the stream ends;
    /// `true` when it ended.
    static func run(_ inflater: ZlibDecompressor, from input: inout ByteBuffer, into window: inout ByteBuffer) throws(Failure) -> Bool {
        window.clear()
        do {
            try inflater.inflate(from: &input, to: &window)
            return true
        } catch let error as CompressNIOError where error == .bufferOverflow {
            guard window.readableBytes > 0 else { throw .noProgress }
            return false
        } catch let error as CompressNIOError where error == .inputBufferOverflow {
            throw .truncated
        } catch {
            throw .corrupt
        }
    }
}
