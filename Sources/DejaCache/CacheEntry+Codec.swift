import DejaCore
import NIOCore

extension CacheEntry {
    /// First byte of every encoded entry.
    static let codecMagic: UInt8 = 0xDE
    /// Version of the binary layout written by ``encoded()``.
    static let codecVersion: UInt8 = 3
    /// Bytes before the variable-length fields: magic, version, status, tokens, four times, producer,
    /// redactions, scope tag, four lengths.
    static let codecHeaderBytes = 2 + 8 + 8 + 8 * 4 + 8 + 4 + 8 + 4 * 4
    /// The smallest entry any readable version can be: version 1's header.
    static let codecVersion1HeaderBytes = 2 + 8 + 8 + 8 * 4 + 4 * 3

    /// The entry in Deja's compact, versioned binary layout, as persistent stores keep it.
    ///
    /// Layout (big-endian): magic `0xDE`, version `3`, status (Int64), metered tokens (Int64), upstream seconds,
    /// created, expires and retain-until (Float64 bit patterns), producer tag (UInt64), redactions (UInt32),
    /// scope tag (UInt64), then content type, model version, task and body, each as a UInt32 length
    /// followed by its bytes. Versions 1 (without producer and redactions) and 2 (without scope tag and
    /// task) are still read; their task is empty and their scope tag 0 (unknown).
    public func encoded() -> ByteBuffer {
        let contentTypeBytes = contentType.utf8
        let modelVersionBytes = modelVersion.utf8
        let taskBytes = task.utf8
        var buffer = ByteBuffer()
        buffer.reserveCapacity(
            Self.codecHeaderBytes + contentTypeBytes.count + modelVersionBytes.count + taskBytes.count + body.readableBytes
        )
        buffer.writeInteger(Self.codecMagic)
        buffer.writeInteger(Self.codecVersion)
        buffer.writeInteger(Int64(status))
        buffer.writeInteger(meteredTokens)
        for time in [upstreamSeconds, createdAt, expiresAt, retainUntil] {
            buffer.writeInteger(time.bitPattern)
        }
        buffer.writeInteger(producer)
        buffer.writeInteger(UInt32(clamping: redactions))
        buffer.writeInteger(scopeTag)
        buffer.writeInteger(UInt32(truncatingIfNeeded: contentTypeBytes.count))
        buffer.writeBytes(contentTypeBytes)
        buffer.writeInteger(UInt32(truncatingIfNeeded: modelVersionBytes.count))
        buffer.writeBytes(modelVersionBytes)
        buffer.writeInteger(UInt32(truncatingIfNeeded: taskBytes.count))
        buffer.writeBytes(taskBytes)
        buffer.writeInteger(UInt32(truncatingIfNeeded: body.readableBytes))
        buffer.writeImmutableBuffer(body)
        return buffer
    }

    /// Decodes an entry written by ``encoded()``.
    ///
    /// The body shares storage with `buffer`. Throws ``CacheStoreError`` with code `corruptEntry` when the
    /// bytes are truncated, carry trailing garbage, an unknown version, or text that is not UTF-8.
    public init(decoding buffer: ByteBuffer) throws(CacheStoreError) {
        var buffer = buffer
        guard buffer.readableBytes >= Self.codecVersion1HeaderBytes else {
            throw .corrupt("encoded cache entry is truncated")
        }
        guard buffer.readInteger(as: UInt8.self) == Self.codecMagic else {
            throw .corrupt("encoded cache entry has a bad magic byte")
        }
        guard let version = buffer.readInteger(as: UInt8.self), (1...Self.codecVersion).contains(version) else {
            throw .corrupt("encoded cache entry has an unknown version")
        }
        guard let status = buffer.readInteger(as: Int64.self),
              let metered = buffer.readInteger(as: Int64.self),
              let upstream = buffer.readInteger(as: UInt64.self),
              let created = buffer.readInteger(as: UInt64.self),
              let expires = buffer.readInteger(as: UInt64.self),
              let retain = buffer.readInteger(as: UInt64.self)
        else { throw .corrupt("encoded cache entry is truncated") }
        var producer: UInt64 = 0, redactions: UInt32 = 0
        if version >= 2 {
            guard let tag = buffer.readInteger(as: UInt64.self), let count = buffer.readInteger(as: UInt32.self) else {
                throw .corrupt("encoded cache entry is truncated")
            }
            (producer, redactions) = (tag, count)
        }
        var scopeTag: UInt64 = 0
        if version >= 3 {
            guard let tag = buffer.readInteger(as: UInt64.self) else { throw .corrupt("encoded cache entry is truncated") }
            scopeTag = tag
        }
        let contentType = try Self.readString(&buffer, field: "content type")
        let modelVersion = try Self.readString(&buffer, field: "model version")
        let task = version >= 3 ? try Self.readString(&buffer, field: "task") : ""
        let body = try Self.readField(&buffer, field: "body")
        guard buffer.readableBytes == 0 else {
            throw .corrupt("encoded cache entry has trailing bytes")
        }
        self.init(
            body: body,
            contentType: contentType,
            status: Int(truncatingIfNeeded: status),
            modelVersion: modelVersion,
            meteredTokens: metered,
            upstreamSeconds: Double(bitPattern: upstream),
            createdAt: Double(bitPattern: created),
            expiresAt: Double(bitPattern: expires),
            retainUntil: Double(bitPattern: retain),
            producer: producer,
            redactions: Int(redactions),
            task: task,
            scopeTag: scopeTag
        )
    }

    private static func readField(_ buffer: inout ByteBuffer, field: String) throws(CacheStoreError) -> ByteBuffer {
        guard let length = buffer.readInteger(as: UInt32.self),
              let slice = buffer.readSlice(length: Int(length))
        else { throw .corrupt("encoded cache entry is truncated in its \(field)") }
        return slice
    }

    private static func readString(_ buffer: inout ByteBuffer, field: String) throws(CacheStoreError) -> String {
        let bytes = try readField(&buffer, field: field)
        guard let text = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            throw .corrupt("encoded cache entry has a \(field) that is not UTF-8")
        }
        return text
    }
}
