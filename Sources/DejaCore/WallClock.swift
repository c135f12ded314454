import Foundation
import Synchronization

/// Where Deja reads the time, as seconds since 1970. Injectable so TTL tests never sleep.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Double

    /// A clock that reads `read` each time.
    public init(_ read: @escaping @Sendable () -> Double) { self.read = read }

    /// The current time in seconds since 1970.
    @inlinable
    public func now() -> Double { _now() }

    @usableFromInline
    func _now() -> Double { read() }

    /// The system's real-time clock.
    public static let system = WallClock { Date().timeIntervalSince1970 }
}

/// A clock that moves only when told to; for tests.
public final class ManualClock: Sendable {
    private let time: Mutex<Double>

    public init(start: Double = 1_800_000_000) { time = Mutex(start) }

    /// The current manual time.
    public var now: Double { time.withLock { $0 } }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: Double) { time.withLock { $0 += seconds } }

    /// A ``WallClock`` that reads this clock.
    public var wallClock: WallClock { WallClock { [self] in self.now } }
}
