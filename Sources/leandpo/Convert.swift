// `leandpo convert`: a GGUF file or a Hugging Face safetensors model → an MTF file, streamed tensor by
// tensor. Prints one summary line; notes about the import go to stderr.

import ArgumentParser
import Foundation
import ModelFiles
import TensorFile
import Tokenizer
import Training

#if canImport(Glibc)
    import Glibc
#endif

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
    @Flag(help: "Replace an existing output file (never the source itself).") var force = false

    func run() throws {
        try reportingErrors {
            let start = Date()
            try Self.refuseOverwritingSource(source, output)
            try ExportDestination.check(output, kind: .file, force: force)
            let model = try ModelImporter.open(source)
            for note in model.notes { printErr("note: \(note)") }
            // The tokenizer is built (every merge's parts and result in the vocabulary) before anything is
            // written, so a file convert writes always opens.
            do { _ = try BPETokenizer(model.metadata.tokenizer) } catch { throw ArgumentError("\(source): \(error)") }
            Signals.install(message: nil)
            let fingerprint: String
            do {
                fingerprint = try Converter.convert(
                    source: model, to: output, dtype: dtype.dtype, baseModel: baseModel, isCancelled: { Signals.interrupted }, progress: nil)
            } catch let e as Converter.Cancelled {
                printErr("leandpo: \(e)")
                throw ExitCode(Signals.exitCode)
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            let seconds = Date().timeIntervalSince(start)
            print(
                "converted \(source) → \(output): \(model.tensors.count) tensors \(dtype.rawValue), \(formatBytes(size)), fingerprint \(fingerprint), \(String(format: "%.1f", seconds)) s"
            )
        }
    }

    /// The output may never be the source (a file, or a file inside a source directory), --force or not:
    /// the converter reads the source while it writes.
    static func refuseOverwritingSource(_ source: String, _ output: String) throws {
        var out = stat()
        guard stat(output, &out) == 0 else { return }
        var src = stat()
        guard stat(source, &src) == 0 else { return }
        let sameFile = out.st_dev == src.st_dev && out.st_ino == src.st_ino
        var insideSource = false
        // In a Hugging Face directory the converter reads the safetensors and JSON files.
        if (src.st_mode & S_IFMT) == S_IFDIR, ["safetensors", "json"].contains((output as NSString).pathExtension) {
            var parent = stat()
            let dir = (output as NSString).deletingLastPathComponent
            insideSource = stat(dir.isEmpty ? "." : dir, &parent) == 0 && parent.st_dev == src.st_dev && parent.st_ino == src.st_ino
        }
        guard !sameFile, !insideSource else {
            throw ArgumentError(
                "-o \(output) is \(sameFile ? "the source itself" : "a file of the source directory"); converting would destroy its input. Choose another output"
            )
        }
    }
}
