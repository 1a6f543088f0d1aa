// Model → a Hugging Face model directory AutoModelForCausalLM.from_pretrained loads: config.json,
// generation_config.json, safetensors weights (one model.safetensors, or model-0000N-of-0000M shards with
// model.safetensors.index.json above the shard size), tokenizer.json, tokenizer_config.json and
// chat_template.jinja. Built in a temporary sibling directory and renamed into place.

import Foundation
import JSON
import TensorFile

public enum HFExporter {
    /// transformers' default max_shard_size ("5GB").
    public static let defaultMaxShardSize = 5_000_000_000
    public static let indexFileName = "model.safetensors.index.json"

    public struct Summary: Sendable {
        public var tensors: Int
        public var shards: Int
        /// Bytes of tensor data (the index's total_size).
        public var bytes: Int
        public var files: [String]
    }

    /// Whether `directory` looks like an earlier export (so `force` may replace it).
    public static func looksLikeExport(_ directory: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: directory + "/config.json")
            && (fm.fileExists(atPath: directory + "/model.safetensors") || fm.fileExists(atPath: directory + "/" + indexFileName))
    }

    /// Writes `source` as a model directory at `directory` with every tensor in `dtype` (f32, bf16, f16).
    @discardableResult
    public static func write(
        source: any ModelSource, to directory: String, dtype: DType, maxShardSize: Int = defaultMaxShardSize, force: Bool = false,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Summary {
        guard SafetensorsWriter.dtypeName(dtype) != nil else {
            throw ModelFileError(.unsupported, directory, "cannot write safetensors as \(dtype.rawValue); choose f32, bf16 or f16")
        }
        guard maxShardSize > 0 else { throw ModelFileError(.unsupported, directory, "the maximum shard size must be positive") }
        try ExportDestination.check(directory, kind: .directory, force: force, replaceable: looksLikeExport)
        let meta = source.metadata
        let config = meta.config
        let configJSON = try HFConfigWriter.config(config, dtype: dtype)
        let tokenizerJSON = try HFTokenizerWriter.tokenizerJSON(meta.tokenizer)  // checked before anything is written

        // MARK: Shards, in state-dict order: embeddings, layers, final norm, LM head
        var tensors = try Converter.plan(source).filter { !($0.name == "lm_head.weight" && config.tieWordEmbeddings) }
        let last = ["model.norm.weight", "lm_head.weight"]
        tensors = tensors.filter { !last.contains($0.name) } + last.compactMap { n in tensors.first { $0.name == n } }
        let sizes = tensors.map { dtype.byteCount(shape: $0.shape)! }
        let shards = shardPlan(sizes, maxShardSize: maxShardSize)
        let names =
            shards.count == 1
            ? ["model.safetensors"]
            : (1...shards.count).map { String(format: "model-%05d-of-%05d.safetensors", $0, shards.count) }

        // MARK: Write
        let out = try DirectoryExport(target: directory)
        let capacity = max(1, tensors.map(\.elementCount).max() ?? 1)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: capacity)  // (largest tensor)
        defer { buffer.deallocate() }
        var done = 0
        var weightMap: [String: JSONText] = [:]
        for (s, members) in shards.enumerated() {
            let writer = try SafetensorsWriter(
                path: out.path(names[s]), tensors: members.map { TensorSpec(name: tensors[$0].name, dtype: dtype, shape: tensors[$0].shape) })
            let byName = Dictionary(uniqueKeysWithValues: members.map { (tensors[$0].name, tensors[$0]) })
            while let e = writer.nextTensor {
                let t = byName[e.name]!
                try source.load(t, into: buffer)
                try writer.write(name: t.name, floats: UnsafeBufferPointer(start: buffer, count: t.elementCount))
                weightMap[t.name] = .string(names[s])
                done += 1
                progress?(done, tensors.count)
            }
            try writer.finish()
        }
        var files = names
        let total = sizes.reduce(0, +)
        if shards.count > 1 {
            let index = JSONText.object([
                (
                    "metadata",
                    .object([("total_parameters", .int(tensors.reduce(0) { $0 + $1.elementCount })), ("total_size", .int(total))])
                ),
                ("weight_map", .sorted(weightMap)),
            ])
            try writeText(index.rendered(indent: 2) + "\n", to: out.path(indexFileName))
            files.append(indexFileName)
        }
        try writeText(configJSON.rendered(indent: 2) + "\n", to: out.path("config.json"))
        try writeText(HFConfigWriter.generationConfig(config).rendered(indent: 2) + "\n", to: out.path("generation_config.json"))
        files += ["config.json", "generation_config.json"]
        files += try writeTokenizerFiles(meta, tokenizerJSON: tokenizerJSON, into: out.temporary)
        try out.commit()
        return Summary(tensors: tensors.count, shards: shards.count, bytes: total, files: files.sorted())
    }

    /// Writes tokenizer.json, tokenizer_config.json and chat_template.jinja (when there is a template)
    /// into `directory`, each atomically; returns the names written. A saved adapter carries them too.
    @discardableResult
    public static func writeTokenizerFiles(_ meta: MTFMetadata, tokenizerJSON: JSONText? = nil, into directory: String) throws -> [String] {
        let tokenizerJSON = try tokenizerJSON ?? HFTokenizerWriter.tokenizerJSON(meta.tokenizer)
        try writeText(tokenizerJSON.rendered(indent: 2), to: directory + "/tokenizer.json")
        try writeText(
            HFTokenizerWriter.tokenizerConfigJSON(meta.tokenizer, modelMaxLength: meta.config.maxPositionEmbeddings).rendered(indent: 2) + "\n",
            to: directory + "/tokenizer_config.json")
        var files = ["tokenizer.json", "tokenizer_config.json"]
        if let template = meta.chatTemplate {
            try writeText(template, to: directory + "/chat_template.jinja")
            files.append("chat_template.jinja")
        }
        return files
    }

    /// Groups tensors (by byte size, in order) into shards of at most `maxShardSize` bytes, as transformers
    /// does: a tensor that does not fit the current shard starts the next; one larger than the limit gets
    /// a shard of its own. Returns tensor indices per shard.
    public static func shardPlan(_ sizes: [Int], maxShardSize: Int) -> [[Int]] {
        var shards: [[Int]] = []
        var current: [Int] = []
        var bytes = 0
        for (i, n) in sizes.enumerated() {
            if !current.isEmpty && bytes + n > maxShardSize {
                shards.append(current)
                current = []
                bytes = 0
            }
            current.append(i)
            bytes += n
        }
        if !current.isEmpty || shards.isEmpty { shards.append(current) }
        return shards
    }

    /// Parses a shard size as transformers does: bytes, or a number with KB/MB/GB/TB (powers of 1000) or
    /// KiB/MiB/GiB/TiB (powers of 1024), case-insensitive ("5GB", "500MiB", "1.5gb"). Nil when unreadable.
    public static func byteSize(_ text: String) -> Int? {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [
            ("kib", 1024), ("mib", 1_048_576), ("gib", 1_073_741_824), ("tib", 1_099_511_627_776),
            ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12), ("b", 1),
        ]
        var number = Substring(s)
        var scale = 1.0
        for (u, f) in units where s.hasSuffix(u) {
            number = s.dropLast(u.count)
            scale = f
            break
        }
        guard let v = Double(number.trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0, v * scale < 9e18 else { return nil }
        let n = Int((v * scale).rounded())
        return n > 0 ? n : nil
    }

    static func writeText(_ text: String, to path: String) throws {
        do {
            let w = try AtomicFileWriter(path: path)
            try w.write(Array(text.utf8))
            try w.commit()
        } catch {
            throw ExportDestination.ioError(error, path)
        }
    }
}
