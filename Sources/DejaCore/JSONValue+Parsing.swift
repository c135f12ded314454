import NIOCore

extension JSONValue {
    /// Parses one JSON document (RFC 8259, strict) from UTF-8 bytes.
    ///
    /// Rejects invalid UTF-8, lone surrogate escapes, duplicate member names (compared after unescaping),
    /// trailing data, and anything past `limits`. Runs in time linear in the input.
    /// - Throws: ``CanonicalError`` with the JSON path of the problem; an empty or white-space-only input
    ///   is ``CanonicalError/Code/emptyBody``.
    public init(parsing bytes: some Collection<UInt8>, limits: JSONLimits = JSONLimits()) throws(CanonicalError) {
        let parse = { (buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, CanonicalError> in
            var parser = JSONParser(bytes: buffer, limits: limits)
            return Result { () throws(CanonicalError) in try parser.parseDocument() }
        }
        let result = bytes.withContiguousStorageIfAvailable(parse) ?? Array(bytes).withUnsafeBufferPointer(parse)
        self = try result.get()
    }

    /// Parses one JSON document from the readable bytes of `buffer`; see the `[UInt8]` overload.
    public init(parsing buffer: ByteBuffer, limits: JSONLimits = JSONLimits()) throws(CanonicalError) {
        let result = buffer.withUnsafeReadableBytes { raw -> Result<JSONValue, CanonicalError> in
            var parser = JSONParser(bytes: raw.assumingMemoryBound(to: UInt8.self), limits: limits)
            return Result { () throws(CanonicalError) in try parser.parseDocument() }
        }
        self = try result.get()
    }
}
