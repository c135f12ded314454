/// A configuration that cannot be used; the message names the setting and what to change.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "configuration error: \(message)" }
}
