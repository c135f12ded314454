// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Deja",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "deja", targets: ["deja"]),
        .library(name: "DejaCore", targets: ["DejaCore"]),
        .library(name: "DejaCache", targets: ["DejaCache"]),
        .library(name: "DejaLedger", targets: ["DejaLedger"]),
        .library(name: "DejaGateway", targets: ["DejaGateway"]),
        .library(name: "DejaServer", targets: ["DejaServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
    ],
    targets: [
        // Pure: canonical form, keys, task policy, meters, entry codec. No I/O.
        .target(
            name: "DejaCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // CacheStore protocol; memory LRU, SQLite, tiered.
        .target(
            name: "DejaCache",
            dependencies: [
                "DejaCore",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Ledger protocol: API keys, usage records, reports; SQLite.
        .target(
            name: "DejaLedger",
            dependencies: [
                "DejaCore",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The request path: single flight, upstream client, billing.
        .target(
            name: "DejaGateway",
            dependencies: [
                "DejaCore", "DejaCache", "DejaLedger",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Hummingbird application: routes, middleware, metrics, admin, configuration.
        .target(
            name: "DejaServer",
            dependencies: [
                "DejaCore", "DejaCache", "DejaLedger", "DejaGateway",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "deja",
            dependencies: [
                "DejaServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DejaCoreTests", dependencies: ["DejaCore"], swiftSettings: swiftSettings),
        .testTarget(name: "DejaCacheTests", dependencies: ["DejaCache"], swiftSettings: swiftSettings),
        .testTarget(name: "DejaLedgerTests", dependencies: ["DejaLedger"], swiftSettings: swiftSettings),
        .testTarget(name: "DejaGatewayTests", dependencies: ["DejaGateway"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DejaServerTests",
            dependencies: [
                "DejaServer",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
