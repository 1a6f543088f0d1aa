// swift-tools-version: 6.1
// LeanDPO: LoRA DPO training on a memory-mapped base, on the CPU.
import Foundation
import PackageDescription

let package = Package(
    name: "LeanDPO",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "leandpo", targets: ["leandpo"]),
        .library(
            name: "LeanDPO",
            targets: ["TensorFile", "ModelFiles", "Tokenizer", "ChatTemplate", "SeededRandom", "Kernels", "Model", "Adapters", "Training", "Reports"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: - System libraries (C through system-library targets only)
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // oneDNN (bf16 products); Debian ships no pkg-config file for it, the header and library are on the default paths.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        // MARK: - Libraries, dependencies flow one way
        .target(name: "TensorFile"),
        .target(name: "SeededRandom"),
        .target(name: "ModelFiles", dependencies: ["TensorFile", "JSON", "ChatTemplate"]),
        .target(name: "Tokenizer", dependencies: ["TensorFile"]),
        .target(name: "JSON"),
        .target(name: "Reports", dependencies: ["JSON"]),
        .target(name: "ChatTemplate", dependencies: ["JSON"]),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CDNNL", "TensorFile"]),
        .target(name: "Model", dependencies: ["TensorFile", "Kernels", "SeededRandom"]),
        // PEFT files, checkpoints' container and adapters, the merge and the export driver.
        .target(name: "Adapters", dependencies: ["JSON", "TensorFile", "Kernels", "Model", "ModelFiles", "CZstd"]),
        .target(
            name: "Training",
            dependencies: [
                "JSON", "TensorFile", "SeededRandom", "Kernels", "Model", "Tokenizer", "ChatTemplate", "ModelFiles", "Adapters",
                .product(name: "Yams", package: "Yams"),
            ]),
        .executableTarget(
            name: "leandpo",
            dependencies: [
                "JSON", "TensorFile", "ModelFiles", "Kernels", "Model", "Adapters", "Training", "Reports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Real architectures' shapes with random weights (leandpo-bench make-shape, tools/bench --shape).
        .target(name: "ModelShapes", dependencies: ["TensorFile", "ModelFiles", "SeededRandom"]),
        .executableTarget(
            name: "leandpo-bench",
            dependencies: [
                "JSON", "TensorFile", "SeededRandom", "ModelFiles", "Kernels", "Model", "Adapters", "Training", "ModelShapes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/LeanDPOBench"),
        .target(name: "TestSupport", dependencies: ["TensorFile", "SeededRandom"]),

        // MARK: - Tests
        .testTarget(name: "TensorFileTests", dependencies: ["TensorFile", "TestSupport"]),
        .testTarget(
            name: "ModelFilesTests", dependencies: ["ModelFiles", "JSON", "TensorFile", "Tokenizer", "SeededRandom", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TokenizerTests", dependencies: ["Tokenizer", "TensorFile", "ModelFiles", "JSON", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TensorFile", "SeededRandom", "TestSupport"]),
        .testTarget(
            name: "ModelTests", dependencies: ["Model", "Adapters", "Kernels", "TensorFile", "ModelFiles", "SeededRandom", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Adapters", "Model", "JSON", "TensorFile", "ModelFiles", "SeededRandom", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "JSON"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "AdaptersTests", dependencies: ["Adapters", "Training", "Model", "ModelFiles", "JSON", "TensorFile", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "TensorFile"]),
        .testTarget(name: "ModelShapesTests", dependencies: ["ModelShapes", "Model", "ModelFiles", "TensorFile", "Tokenizer", "TestSupport"]),
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
            dependencies: ["Kernels", "TensorFile", "SeededRandom", .product(name: "Benchmark", package: "benchmark")],
            path: "Tests/Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}

// MARK: - Data-parallel training over MPI (optional)

// `LEANDPO_MPI=1 swift build -c release --scratch-path .build-mpi` builds a leandpo that trains over
// `mpirun -np N` (Open MPI, libopenmpi-dev). The default build neither needs nor links MPI.
if ProcessInfo.processInfo.environment["LEANDPO_MPI"] == "1" {
    package.targets.append(.systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]))
    package.targets.append(.target(name: "DataParallel", dependencies: ["CMPI", "Training"]))
    if let cli = package.targets.first(where: { $0.name == "leandpo" }) {
        cli.dependencies.append("DataParallel")
        cli.swiftSettings = (cli.swiftSettings ?? []) + [.define("LEANDPO_MPI")]
    }
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
        ("FuzzCheckpoint", ["Adapters", "Training", "TensorFile"]),
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
