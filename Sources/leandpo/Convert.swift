// `leandpo convert`: a GGUF file or a Hugging Face safetensors model → an MTF file, streamed tensor by
// tensor. Prints one summary line; notes about the import go to stderr.

import ArgumentParser
import Foundation
import ModelFiles
import TensorFile

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a GGUF file or a Hugging Face safetensors model to an MTF file.")

    enum OutputDType: String, ExpressibleByArgument, CaseIterable {
        case f32, bf16, f16, q8_0, q4_0, q4_1
        var dtype: DType { DType(rawValue: rawValue)! }
    }

    @Argument(help: "A .gguf file, a Hugging Face model directory, or a .safetensors file next to its config.json.")
    var source: String
    @Option(name: .shortAndLong, help: "The MTF file to write.") var output: String
    @Option(help: "Element type of the written tensors; q8_0, q4_0 and q4_1 quantize the matrices (norms stay f32) for a smaller base to train on.")
    var dtype: OutputDType = .f32
    @Option(
        help: ArgumentHelp(
            "The Hugging Face id or directory the weights are (saved adapters name it as base_model_name_or_path).",
            discussion: "Default: config.json's _name_or_path or the directory for a Hugging Face source, the source repository a GGUF names.",
            valueName: "id-or-dir"))
    var baseModel: String?

    func run() throws {
        try reportingErrors {
            let start = Date()
            let model = try ModelImporter.open(source)
            for note in model.notes { printErr("note: \(note)") }
            let fingerprint = try Converter.convert(source: model, to: output, dtype: dtype.dtype, baseModel: baseModel, progress: nil)
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            let seconds = Date().timeIntervalSince(start)
            print(
                "converted \(source) → \(output): \(model.tensors.count) tensors \(dtype.rawValue), \(formatBytes(size)), fingerprint \(fingerprint), \(String(format: "%.1f", seconds)) s"
            )
        }
    }
}
