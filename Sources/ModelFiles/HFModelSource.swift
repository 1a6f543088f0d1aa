// A Hugging Face model directory → model: config.json, the tokenizer files and safetensors weights, a
// single file or shards listed by model.safetensors.index.json (each listed shard must exist and every
// tensor must be found exactly once, in the shard the index names).

import Foundation
import JSON
import TensorFile

public final class HFModelSource: ModelSource {
    public let directory: String
    public let metadata: MTFMetadata
    public let tensors: [SourceTensor]
    public let notes: [String]
    /// The safetensors files, in the order their tensors are listed.
    public let files: [SafetensorsFile]
    private let location: [String: (file: Int, info: SafetensorsTensorInfo)]

    /// Opens `directory`; `weights` picks a single .safetensors file or an index file, otherwise the
    /// directory's model.safetensors.index.json or model.safetensors is used.
    public init(directory: String, weights: String? = nil) throws {
        self.directory = directory
        var notes: [String] = []
        let configPath = directory + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw ModelFileError(
                .missing, weights ?? directory, "config.json is missing\(weights == nil ? "" : " next to this file"); a Hugging Face model needs it")
        }
        let configJSON = try JSONValue.read(configPath)
        let config = try HFConfig.modelConfig(configJSON, path: configPath, notes: &notes)
        let (tokenizer, template) = try HFTokenizer.load(directory: directory, config: config, notes: &notes)

        // MARK: Weights
        let fm = FileManager.default
        var weightsPath = weights
        if weightsPath == nil {
            for name in ["model.safetensors.index.json", "model.safetensors"] where fm.fileExists(atPath: directory + "/" + name) {
                weightsPath = directory + "/" + name
                break
            }
        }
        if weightsPath == nil {
            let found = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
            guard found.count == 1 else {
                throw ModelFileError(
                    .missing, directory,
                    found.isEmpty
                        ? "no safetensors weights (model.safetensors or model.safetensors.index.json); pytorch_model.bin is not supported (HINT: re-save with safe_serialization=True)"
                        : "\(found.count) .safetensors files but no model.safetensors.index.json saying which tensor is where")
            }
            weightsPath = directory + "/" + found[0]
        }
        let source = weightsPath!
        var files: [SafetensorsFile] = []
        var location: [String: (file: Int, info: SafetensorsTensorInfo)] = [:]
        if source.hasSuffix(".index.json") {
            (files, location) = try Self.openShards(index: source, directory: directory)
        } else {
            let f = try SafetensorsFile(path: source)
            files = [f]
            for t in f.tensors { location[t.name] = (0, t) }
        }

        // MARK: Tensors
        var list: [SourceTensor] = []
        for (i, f) in files.enumerated() {
            for t in f.tensors where location[t.name]?.file == i {
                if t.name.hasSuffix("rotary_emb.inv_freq") {
                    location[t.name] = nil
                    continue
                }
                guard SafetensorsFile.floatDTypes.contains(t.dtype) else {
                    throw ModelFileError(
                        .unsupported, f.path, "tensor \(t.name) has dtype \(t.dtype); only F32, F16 and BF16 can be converted",
                        at: "header entry \(t.name)")
                }
                list.append(SourceTensor(name: t.name, shape: t.shape, sourceDType: t.dtype))
            }
        }
        if let d = HFConfig.storedDType(configJSON) { notes.append("\(configPath): checkpoint dtype \(d)") }

        // Named after the directory, unless one .safetensors file was given.
        let named = weights.map { $0.hasSuffix(".safetensors") } == true ? source : directory
        metadata = MTFMetadata(
            config: config, tokenizer: tokenizer, chatTemplate: template,
            provenance: Provenance(
                sourceFormat: "safetensors", sourceName: URL(fileURLWithPath: named).standardizedFileURL.lastPathComponent,
                sourceXxh64: try fileXXH64(source), converter: Converter.name, converterVersion: Converter.version,
                baseModel: ModelOrigin.huggingFaceDirectory(directory, config: configJSON)))
        tensors = list
        self.files = files
        self.location = location
        self.notes = notes
    }

    /// Opens every shard the index lists and checks the index and the shards agree.
    static func openShards(index: String, directory: String) throws -> ([SafetensorsFile], [String: (file: Int, info: SafetensorsTensorInfo)]) {
        let json = try JSONValue.read(index)
        guard let map = json["weight_map"]?.object else {
            throw ModelFileError(.malformed, index, "weight_map must be an object of tensor name → shard file", at: "key weight_map")
        }
        var shardNames: [String] = []
        var wanted: [String: String] = [:]
        for (name, v) in map {
            guard let shard = v.string, !shard.isEmpty, !shard.hasPrefix("/"), !shard.split(separator: "/").contains("..") else {
                throw ModelFileError(
                    .malformed, index, "weight_map entry \(name) must name a shard file inside the directory", at: "key weight_map.\(name)")
            }
            wanted[name] = shard
            if !shardNames.contains(shard) { shardNames.append(shard) }
        }
        shardNames.sort()
        var files: [SafetensorsFile] = []
        var location: [String: (file: Int, info: SafetensorsTensorInfo)] = [:]
        for (i, shard) in shardNames.enumerated() {
            let p = directory + "/" + shard
            guard FileManager.default.fileExists(atPath: p) else {
                throw ModelFileError(.missing, index, "shard \(shard) listed in the index does not exist", at: "key weight_map")
            }
            let f = try SafetensorsFile(path: p)
            for t in f.tensors {
                if let other = location[t.name] {
                    throw ModelFileError(.malformed, p, "tensor \(t.name) is also in \(shardNames[other.file])", at: "header entry \(t.name)")
                }
                guard let listed = wanted[t.name] else {
                    throw ModelFileError(
                        .malformed, p, "tensor \(t.name) is not listed in \((index as NSString).lastPathComponent)", at: "header entry \(t.name)")
                }
                guard listed == shard else {
                    throw ModelFileError(
                        .malformed, index, "tensor \(t.name) is listed in \(listed) but found in \(shard)", at: "key weight_map.\(t.name)")
                }
                location[t.name] = (i, t)
            }
            files.append(f)
        }
        for (name, shard) in wanted.sorted(by: { $0.key < $1.key }) where location[name] == nil {
            throw ModelFileError(
                .missing, directory + "/" + shard, "tensor \(name) listed in the index is not in this shard", at: "key weight_map.\(name)")
        }
        return (files, location)
    }

    public func load(_ t: SourceTensor, into dst: UnsafeMutablePointer<Float>) throws {
        guard let l = location[t.name] else { throw ModelFileError(.missing, directory, "no tensor \(t.name) in this model") }
        try files[l.file].readFloats(l.info, into: dst)
    }
}
