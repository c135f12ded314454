import NIOCore

extension HitFastPath: FastAnswering {}

extension HitFastPath.Held: HeldRequest {
    /// Hashes the part and keeps it, in case the router takes the request.
    mutating func append(_ part: ByteBuffer) {
        hasher.update(part)
        parts.append(part)
    }
}
