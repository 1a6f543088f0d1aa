// `leandpo-bench`: the measuring program behind tools/bench. Each job prints ONE JSON line on stdout
// (progress goes to stderr): the reference training job, forward-only scoring, adapter export, and a
// comparison of two result lines. It drives the public API (Trainer, PairScoring) exactly as the CLI does.

import ArgumentParser
import Foundation
import JSON
import Kernels
import Model

extension ComputeDType: ExpressibleByArgument {}

@main
struct LeanDPOBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leandpo-bench",
        abstract: "Measure LeanDPO's speed and memory on a fixed job; one JSON line per run.",
        discussion:
            "Run through tools/bench, which builds, fetches the model and picks the job. The FLOP model is documented in Sources/LeanDPOBench/FlopCount.swift.",
        subcommands: [
            TrainJob.self, EvalJob.self, ExportJob.self, PeakJob.self, CompareResults.self, AblationSummary.self, ScaleTable.self, MakeShape.self,
        ],
        defaultSubcommand: TrainJob.self)
}

// MARK: - Shared options

struct JobOptions: ParsableArguments {
    @Option(help: "Base model (MTF).") var model: String
    @Option(help: "Preference pairs (JSONL).") var data: String
    @Option(help: "Threads for the kernels and OpenBLAS.") var threads = 2
    @Option(
        name: .customLong("compute-dtype"),
        help: "Element type of the base-weight products: f32 or bf16 (oneDNN; f32 with a note where the CPU lacks it).")
    var computeDType = ComputeDType.f32
    @Option(help: "Pairs per optimizer step (eval: pairs are scored in groups of about 4096 tokens).") var pairsPerStep = 4
    @Option(help: "Max tokens of prompt+completion.") var maxLength = 512
    @Option(help: "LoRA rank.") var loraR = 16
    @Option(help: "LoRA alpha.") var loraAlpha = 32.0
    @Option(help: "Seed for the adapter init and the data order.") var seed: UInt64 = 42
    @Option(help: "The git commit measured (tools/bench passes it).") var commit = "unknown"

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1") }
        guard pairsPerStep >= 1 else { throw ValidationError("--pairs-per-step must be ≥ 1") }
        guard maxLength >= 2 else { throw ValidationError("--max-length must be ≥ 2") }
    }

    /// Fields every result line starts with after `job`.
    func header(file: ModelFileInfo) -> [(String, JSONText)] {
        [
            ("model", .string(file.name)), ("model_dtype", .string(file.dtype)),
            ("model_file_mb", .number(Double(file.bytes) / 1_048_576, digits: 1)), ("threads", .int(threads)),
            ("compute_dtype", .string(computeDType.rawValue)),
        ]
    }

    /// Sets the model's compute dtype; the fallback note goes to stderr and the line records the dtype used.
    func applyComputeDType(_ model: LlamaModel) {
        if let note = model.setComputeDType(computeDType) { FileHandle.standardError.write(Data((note + "\n").utf8)) }
    }

    /// Fields every result line ends with: where and when it was measured.
    func footer(loadStart: [Double]?) -> [(String, JSONText)] {
        var out: [(String, JSONText)] = []
        if let cg = MemoryCgroup.current() {
            out.append(("memory_cap_mb", cg.effectiveLimit.map { .number(Double($0) / 1_048_576, digits: 1) } ?? .null))
            if cg.effectiveLimit != nil {
                out.append(("cgroup_version", .int(cg.version)))
                out.append(("cgroup_peak_mb", cg.peak.map { .number(Double($0) / 1_048_576, digits: 1) } ?? .null))
                out.append(("cgroup_failcnt", .optional(cg.failures)))
            }
        } else {
            out.append(("memory_cap_mb", .null))
        }
        out.append(("load_avg_start", loadStart.map { .numbers($0, digits: 2) } ?? .null))
        out.append(("load_avg_end", LoadAverage.read().map { .numbers($0, digits: 2) } ?? .null))
        out.append(("commit", .string(commit)))
        out.append(("machine", .object(Machine.describe().fields)))
        return out
    }
}

/// The base file as the result line names it.
struct ModelFileInfo {
    var name: String
    var dtype: String
    var bytes: Int
}

// MARK: - Errors and progress

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Progress and notes go to stderr so stdout stays one JSON line.
func note(_ s: String) {
    FileHandle.standardError.write(Data(("leandpo-bench: " + s + "\n").utf8))
}

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory(_ prefix: String) throws -> String {
    let dir = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
