// swift-tools-version:5.4
// libFuzzer target for the readers of untrusted bytes (DejaCore's, and DejaRedis's RESP). Not part of the main package: build and run
// it with scripts/fuzz.sh (which passes -sanitize=fuzzer). See README.md.
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point to
// `<module>_main` and links `main` to it, which clashes with libFuzzer providing `main`.
import PackageDescription

let package = Package(
    name: "DejaFuzz",
    platforms: [.macOS("15.0")],
    dependencies: [
        .package(name: "Deja", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "DejaFuzz",
            dependencies: [.product(name: "DejaCore", package: "Deja"), .product(name: "DejaRedis", package: "Deja")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
