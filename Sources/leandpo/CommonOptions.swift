// Options several commands share, declared once: the base model, threads, and an adapter. Their help and
// defaults come from TrainArguments and the option table, so `train` and the others agree.

import ArgumentParser
import Foundation
import Kernels
import Model
import TensorFile
import Training

struct BaseModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(TrainOption.help("model"), valueName: "PATH")) var model: String
    @Option(help: ArgumentHelp(TrainOption.help("threads"), valueName: "INT")) var threads = TrainArguments().threads
    @Option(name: .customLong("compute-dtype"), help: ArgumentHelp(TrainOption.help("compute_dtype"), valueName: "DTYPE"))
    var computeDType = TrainArguments().computeDType

    /// The base's mapping, refusing files that are not MTF with the command that converts them. Checks
    /// here (not in validate()) give the one-line error and exit code 1 every user error gets.
    func open() throws -> MappedTensorFile {
        guard threads >= 0 else { throw ArgumentError("--threads must be ≥ 0 (0: all cores), got \(threads)") }
        return try openBase(model)
    }

    /// The model over `file` with the chosen thread count (0: all cores) and compute dtype (a note on
    /// stderr when bf16 falls back to f32).
    func load(_ file: MappedTensorFile) throws -> LlamaModel {
        let model = try LlamaModel(file: file, threads: threads > 0 ? threads : nil)
        if let note = model.setComputeDType(computeDType) { printErr(note) }
        return model
    }
}

struct AdapterOption: ParsableArguments {
    @Option(help: "A checkpoint file, a PEFT adapter directory, or a training output directory (its latest checkpoint).")
    var adapter: String?
}

/// Opens a base model file. A GGUF file or a Hugging Face directory is refused with the convert command
/// to run first, instead of a format error about a missing magic number.
func openBase(_ path: String) throws -> MappedTensorFile {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        // Only a regular file is read for its magic (opening a FIFO would block).
        let regular = (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
        let looksLikeGGUF =
            regular
            && FileHandle(forReadingAtPath: path).map { h in
                defer { try? h.close() }
                return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
            } ?? false
        if isDirectory.boolValue || looksLikeGGUF {
            let kind = looksLikeGGUF ? "a GGUF file" : "a directory"
            let stem = (path as NSString).lastPathComponent.replacingOccurrences(of: ".gguf", with: "")
            throw ArgumentError("\(path) is \(kind), not an MTF model; convert it first: leandpo convert \(path) -o \(stem).mtf")
        }
    }
    return try MappedTensorFile(path: path)
}

extension ComputeDType: ExpressibleByArgument {}

extension TrainOption {
    /// The help line of an option of the table, for commands that declare it themselves (ArgumentParser adds
    /// the default, which those declarations take from TrainArguments).
    static func help(_ name: String) -> String {
        all.first { $0.name == name }?.help ?? ""
    }
}
