/// Runs a string transformation piece by piece, so that a transformation whose cost grows faster than its
/// input (Foundation's normaliser and case folder on Linux) costs time linear in the string.
///
/// The string is cut into pieces of at least ``targetBytes`` UTF-8 bytes (the last may be shorter), each
/// cut placed right before a scalar where the caller's rule allows one; a piece grows past the target only
/// until the next allowed cut. Pieces that are pure ASCII are handed to `ascii`, the others to `other`,
/// and the results are joined. The caller's rule must make the transformation of the whole equal to the
/// join of the transformations of the pieces (``TextBoundary`` for the normaliser; any scalar for case
/// folding).
enum TextChunking {
    /// Bytes a piece reaches before it is cut at the next allowed place.
    static let targetBytes = 1_024

    /// `string` transformed piece by piece; see the type's documentation.
    static func map(
        _ string: String,
        targetBytes: Int = targetBytes,
        allowsCut: (Unicode.Scalar) -> Bool,
        ascii: (Substring) -> String,
        other: (Substring) -> String
    ) -> String {
        let scalars = string.unicodeScalars
        var result = ""
        result.reserveCapacity(string.utf8.count)
        var start = scalars.startIndex
        var pieceBytes = 0
        var pieceIsASCII = true
        var index = start
        while index < scalars.endIndex {
            let scalar = scalars[index]
            if pieceBytes >= targetBytes, allowsCut(scalar) {
                let piece = Substring(scalars[start..<index])
                result += pieceIsASCII ? ascii(piece) : other(piece)
                start = index
                pieceBytes = 0
                pieceIsASCII = true
            }
            pieceBytes += UTF8.width(scalar)
            pieceIsASCII = pieceIsASCII && scalar.isASCII
            scalars.formIndex(after: &index)
        }
        if start < scalars.endIndex {
            let piece = Substring(scalars[start...])
            result += pieceIsASCII ? ascii(piece) : other(piece)
        }
        return result
    }
}
