// `leandpo export`: a base MTF plus an adapter → a merged MTF, Hugging Face directory or GGUF file, or the
// unmerged adapter as a PEFT directory. Prints one summary line; notes go to stderr.

import Adapters
import ArgumentParser
import Foundation
import ModelFiles
import TensorFile

#if canImport(Glibc)
    import Glibc
#endif

extension ExportFormat: ExpressibleByArgument {}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge an adapter into the base and write it as MTF, Hugging Face or GGUF, or write the adapter for PEFT.",
        discussion: """
            The format follows --to when obvious: a .mtf or .gguf file, otherwise a Hugging Face model directory \
            (config.json, safetensors, tokenizer files). --format peft writes the adapter itself \
            (adapter_config.json + adapter_model.safetensors). Nothing partial is left behind on failure.
            """)

    enum OutputDType: String, ExpressibleByArgument, CaseIterable {
        case f32, bf16, f16, q8_0
        var dtype: DType {
            switch self {
            case .f32: .f32
            case .bf16: .bf16
            case .f16: .f16
            case .q8_0: .q8_0
            }
        }
    }

    @Option(help: "Base model (MTF).") var model: String
    @Option(help: "A checkpoint file, PEFT adapter directory, or training output directory (default: export the base alone).")
    var adapter: String?
    @Option(help: "Output file (.mtf, .gguf) or directory (hf, peft).") var to: String
    @Option(help: "Output format (default: from --to).") var format: ExportFormat?
    @Option(help: "Tensor element type, q8_0 for gguf only (default: the base's, f32 for a quantized base).")
    var dtype: OutputDType?
    @Option(help: "Largest safetensors shard for hf, e.g. 5GB, 500MB, 2GiB.") var maxShardSize = "5GB"
    @Flag(help: "Replace an existing output (a directory only if it is an earlier export).") var force = false

    func validate() throws {
        guard HFExporter.byteSize(maxShardSize) != nil else {
            throw ValidationError("--max-shard-size \(maxShardSize) is not a size such as 5GB, 500MB or 2GiB")
        }
    }

    func run() throws {
        try reportingErrors {
            let start = Date()
            ExportInterrupt.install()
            let request = ExportRequest(
                model: model, adapter: adapter, output: to, format: format, dtype: dtype?.dtype, force: force,
                maxShardSize: HFExporter.byteSize(maxShardSize)!, isCancelled: { ExportInterrupt.requested })
            let progress = ProgressLine()
            let r = try ModelExport.run(request) { done, total in
                progress.update("export \(ProgressLine.bar(Double(done) / Double(total))) \(done)/\(total) tensors", force: done == total)
            }
            progress.finish()
            for note in r.notes { printErr("note: \(note)") }
            let seconds = Date().timeIntervalSince(start)
            let what = r.format == .peft ? "adapter, \(r.tensors) tensors" : "\(r.tensors) tensors \(r.dtype.rawValue), \(r.merged) merged"
            print(
                "exported \(r.format.rawValue) → \(r.output): \(what), \(formatBytes(r.bytes))\(r.fingerprint.map { ", fingerprint \($0)" } ?? ""), \(String(format: "%.1f", seconds)) s"
            )
        }
    }
}

// MARK: - Interruption

nonisolated(unsafe) var exportInterruptSignal: Int32 = 0

/// SIGINT/SIGTERM stop the export before the next tensor, so the temporary file or directory is removed;
/// a second signal exits at once.
enum ExportInterrupt {
    static func install() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            if exportInterruptSignal != 0 { _exit(128 + sig) }
            exportInterruptSignal = sig
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }

    static var requested: Bool { exportInterruptSignal != 0 }
}
