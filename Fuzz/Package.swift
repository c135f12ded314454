// swift-tools-version:6.1
// libFuzzer target for DejaCore's readers of untrusted bytes. Not part of the main package: build and run
// it with scripts/fuzz.sh (which passes -sanitize=fuzzer). See README.md.
import PackageDescription

let package = Package(
    name: "DejaFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Deja", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "DejaFuzz",
            dependencies: [.product(name: "DejaCore", package: "Deja")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
