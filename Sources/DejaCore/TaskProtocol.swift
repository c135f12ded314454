/// The wire protocol a task route speaks, which fixes protocol-level canonicalisation rules.
public enum TaskProtocol: String, Sendable, Hashable, CaseIterable {
    /// PaddleX basic serving (`{"file": ..., "fileType": ..., ...}`; answers carry `logId`).
    case paddleX = "paddlex"

    /// The protocol's name as used in configuration and in the configuration hash.
    public var name: String { rawValue }

    /// Top-level request members the protocol itself treats as per-request noise; always volatile.
    public var volatileFields: Set<String> {
        switch self {
        case .paddleX: ["logId"]
        }
    }
}
