extension JSONValue {
    /// Compact JSON with members in their stored order and numbers in canonical spelling.
    ///
    /// Use it to re-serialise an upstream answer faithfully. Strings use minimal escapes (see
    /// ``canonicalBytes()``); the output is always valid JSON.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(JSONWriter.estimatedSize(of: self))
        JSONWriter.write(self, into: &out, sortKeys: false)
        return out
    }

    /// The canonical JSON bytes: members sorted by the UTF-8 bytes of their names at every level, no white
    /// space, canonical number spellings, and minimal string escapes (only `"`, `\` and control characters;
    /// controls as `\b \f \n \r \t` or `\u00xx` in lowercase hex).
    ///
    /// Two values that differ only in member order, white space, escape spelling or number spelling give the
    /// same bytes. These bytes go into the cache key, so this format is part of the key scheme.
    public func canonicalBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(JSONWriter.estimatedSize(of: self))
        JSONWriter.write(self, into: &out, sortKeys: true)
        return out
    }
}
