// swift-tools-version:6.1
// Canonicalisation throughput benchmark; not part of the main package (CI does not build it).
//   cd Benchmarks && swift run -c release DejaBench [path/to/about-1MiB.jpg]
// or scripts: Benchmarks/run.sh (makes the JPEG with Pillow first).
// Text normalisation: swift run -c release DejaTextBench (scripts/bench-text.sh).
import PackageDescription

let package = Package(
    name: "DejaBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Deja", path: ".."),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
    ],
    targets: [
        .executableTarget(
            name: "DejaBench",
            dependencies: [
                .product(name: "DejaCore", package: "Deja"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .executableTarget(
            name: "DejaTextBench",
            dependencies: [.product(name: "DejaCore", package: "Deja")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
