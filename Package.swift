// swift-tools-version: 6.1
// LeanDPO: LoRA DPO training on a memory-mapped base, on the CPU.
import Foundation
import PackageDescription

let package = Package(
    name: "LeanDPO",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "leandpo", targets: ["leandpo"]),
        .library(name: "LeanDPO", targets: ["TensorFile", "ModelFiles", "Tokenizer", "ChatTemplate", "Kernels", "Model", "Adapters", "Training"]),
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
        .target(name: "ModelFiles", dependencies: ["TensorFile", "JSON"]),
        .target(name: "Tokenizer", dependencies: ["TensorFile"]),
        .target(name: "JSON"),
        .target(name: "ChatTemplate", dependencies: ["JSON"]),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "TensorFile"]),
        .target(name: "Model", dependencies: ["TensorFile", "Kernels", "Tokenizer"]),
        // PEFT files, checkpoints' container and adapters, the merge and the export driver.
        .target(name: "Adapters", dependencies: ["JSON", "TensorFile", "Kernels", "Model", "ModelFiles", "CZstd"]),
        .target(
            name: "Training",
            dependencies: [
                "JSON", "TensorFile", "Kernels", "Model", "Tokenizer", "ChatTemplate", "ModelFiles", "Adapters",
                .product(name: "Yams", package: "Yams"),
            ]),
        .executableTarget(
            name: "leandpo",
            dependencies: [
                "JSON", "TensorFile", "ModelFiles", "Tokenizer", "ChatTemplate", "Kernels", "Model", "Adapters", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "leandpo-bench",
            dependencies: [
                "JSON", "TensorFile", "Kernels", "Model", "Adapters", "Training",
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
            name: "ModelTests", dependencies: ["Model", "Adapters", "Kernels", "TensorFile", "Tokenizer", "ModelFiles", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "Adapters", "Model", "ModelFiles", "Kernels", "TensorFile", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "AdaptersTests", dependencies: ["Adapters", "Training", "Model", "ModelFiles", "JSON", "TensorFile", "TestSupport"],
            resources: [.copy("Fixtures")]),
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
