// swift-tools-version: 6.1
// LeanDPO: LoRA DPO training on a memory-mapped base, on the CPU.
import Foundation
import PackageDescription

let package = Package(
    name: "LeanDPO",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "leandpo", targets: ["leandpo"]),
        .library(name: "LeanDPO", targets: ["TensorFile", "ModelFiles", "Tokenizer", "ChatTemplate", "Kernels", "Model", "Training"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: - System libraries (C through system-library targets only)
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

        // MARK: - Libraries, dependencies flow one way
        .target(name: "TensorFile"),
        .target(name: "ModelFiles", dependencies: ["TensorFile", "JSON", "ChatTemplate"]),
        .target(name: "Tokenizer", dependencies: ["TensorFile"]),
        .target(name: "JSON"),
        .target(name: "ChatTemplate", dependencies: ["JSON"]),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "TensorFile"]),
        .target(name: "Model", dependencies: ["TensorFile", "Kernels", "Tokenizer"]),
        .target(name: "Training", dependencies: ["JSON", "TensorFile", "Kernels", "Model", "Tokenizer", "ChatTemplate", "ModelFiles", "CZstd"]),
        .executableTarget(
            name: "leandpo",
            dependencies: [
                "TensorFile", "ModelFiles", "Tokenizer", "ChatTemplate", "Kernels", "Model", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]),
        .executableTarget(
            name: "leandpo-bench",
            dependencies: [
                "JSON", "TensorFile", "Kernels", "Model", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/LeanDPOBench"),
        .target(name: "TestSupport", dependencies: ["TensorFile"]),

        // MARK: - Tests
        .testTarget(name: "TensorFileTests", dependencies: ["TensorFile", "TestSupport"]),
        .testTarget(name: "ModelFilesTests", dependencies: ["ModelFiles", "JSON", "TensorFile", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TensorFile", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TensorFile", "TestSupport"]),
        .testTarget(
            name: "ModelTests", dependencies: ["Model", "Kernels", "TensorFile", "Tokenizer", "ModelFiles", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "Model", "Kernels", "TensorFile", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "TensorFile"]),
    ]
)

// MARK: - Kernel micro-benchmarks (opt-in)

// ordo-one/benchmark and its dependencies add minutes to a clean build, so they join the package graph
// only when LEANDPO_BENCHMARKS=1 (tools/bench --micro sets it). The plugin finds benchmark targets by
// their parent directory, which must be named Benchmarks.
if ProcessInfo.processInfo.environment["LEANDPO_BENCHMARKS"] == "1" {
    package.dependencies.append(.package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: ["Kernels", "TensorFile", .product(name: "Benchmark", package: "benchmark")],
            path: "Tests/Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}

// MARK: - Fuzz targets (opt-in)

// One libFuzzer executable per parser; they only link with `-sanitize=fuzzer` (which brings libFuzzer's
// driver), so they join the package only when LEANDPO_FUZZ=1 (tools/fuzz sets it and builds in .build-fuzz).
if ProcessInfo.processInfo.environment["LEANDPO_FUZZ"] == "1" {
    package.targets.append(.target(name: "CFuzzDriver", path: "Tests/Fuzz/Targets/CFuzzDriver"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Tests/Fuzz/Targets/FuzzSupport"))
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzMTF", ["TensorFile"]),
        ("FuzzGGUF", ["ModelFiles"]),
        ("FuzzSafetensors", ["ModelFiles"]),
        ("FuzzCheckpoint", ["Training", "TensorFile"]),
        ("FuzzTokenizer", ["JSON", "ModelFiles", "Tokenizer"]),
        ("FuzzPreferences", ["Training"]),
        ("FuzzChatTemplate", ["ChatTemplate"]),
        ("FuzzYAMLConfig", ["Training", .product(name: "Yams", package: "Yams")]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, path: "Tests/Fuzz/Targets/\(name)"))
    }
}
