// What every importer offers the converter: metadata in MTF terms and tensors under their Hugging Face
// names and shapes, each loadable as f32 one at a time. `ModelImporter.open` picks the importer.

import Foundation
import TensorFile

/// One tensor a source can load, named and shaped as in Hugging Face (row-major, [out, in]).
public struct SourceTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    /// How the source stores it ("Q4_1", "BF16", ...), for messages and summaries.
    public let sourceDType: String

    public init(name: String, shape: [Int], sourceDType: String) {
        self.name = name
        self.shape = shape
        self.sourceDType = sourceDType
    }

    public var elementCount: Int { shape.reduce(1, *) }
}

public protocol ModelSource {
    var metadata: MTFMetadata { get }
    var tensors: [SourceTensor] { get }
    /// Writes the tensor as f32 (dequantized, any GGUF row permutation undone) into `into`, which holds
    /// at least `t.elementCount` floats.
    func load(_ t: SourceTensor, into: UnsafeMutablePointer<Float>) throws
    /// Things the user should know about the import (a guessed setting, an ignored field), one line each.
    var notes: [String] { get }
}

extension ModelSource {
    public var notes: [String] { [] }
}

// MARK: - Opening

public enum ModelImporter {
    /// Opens a GGUF file, a Hugging Face model directory (config.json + safetensors, sharded or not), a
    /// single .safetensors file next to a config.json, or a model.safetensors.index.json.
    public static func open(_ path: String) throws -> any ModelSource {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelFileError(.io, path, "no such file or directory")
        }
        if isDir.boolValue { return try HFModelSource(directory: path) }
        let head = try readPrefix(path, count: 16)
        if head.starts(with: GGUFFile.magic) { return try GGUFModelSource(path: path) }
        if head.starts(with: MTF.magic) {
            throw ModelFileError(.unsupported, path, "this is already an MTF file; nothing to convert")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if path.hasSuffix(".json") {
            if (path as NSString).lastPathComponent == "config.json" { return try HFModelSource(directory: dir.isEmpty ? "." : dir) }
            if path.hasSuffix(".index.json") { return try HFModelSource(directory: dir.isEmpty ? "." : dir, weights: path) }
        }
        if SafetensorsFile.looksLikeSafetensors(head) {
            return try HFModelSource(directory: dir.isEmpty ? "." : dir, weights: path)
        }
        throw ModelFileError(
            .unsupported, path, "not a GGUF file, a safetensors file or a Hugging Face model directory",
            at: "unrecognised magic at byte 0")
    }

    static func readPrefix(_ path: String, count: Int) throws -> [UInt8] {
        do { return try RegularFile.readPrefix(path, count: count) } catch { throw ModelFileError(.io, path, error.reason) }
    }
}
