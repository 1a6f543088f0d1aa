// GGUF → model: the architecture config from `<arch>.*` keys (ggml's docs/gguf.md, "LLM"), tensors
// renamed to Hugging Face names (llama.cpp's gguf-py constants.py and tensor_mapping.py) and dequantized
// with the llama Q/K permutation undone, the tokenizer from `tokenizer.ggml.*` and the chat template.
// Architectures: llama (also SmolLM2, and Mistral: a llama with attention.sliding_window), qwen2, qwen3, gemma2,
// gemma3 (text), phi3 (fused attn_qkv and ffn_up kept fused, no Q/K permutation). llama.cpp stores Gemma's norm weights with the + 1 of its (1 + w) RMSNorm added; the importer
// subtracts it, so the MTF keeps Hugging Face's values.

import Foundation
import TensorFile

public final class GGUFModelSource: ModelSource {
    public let file: GGUFFile
    public let metadata: MTFMetadata
    public let tensors: [SourceTensor]
    public let notes: [String]
    private let entries: [String: Entry]

    private struct Entry {
        let info: GGUFTensorInfo
        /// Heads to un-permute rows with (llama Q and K), nil for every other tensor.
        let permuteHeads: Int?
        /// Gemma norm weights: llama.cpp's w + 1, read back as w.
        var minusOne = false
    }

    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    public init(file: GGUFFile) throws {
        self.file = file
        var notes: [String] = []
        let keys = GGUFKeys(file: file)
        let config = try Self.config(keys, file: file, notes: &notes)
        let (tokenizer, template) = try GGUFTokenizer.read(keys, notes: &notes)

        // MARK: Tensors
        var entries: [String: Entry] = [:]
        var list: [SourceTensor] = []
        for t in file.tensors {
            // recomputed from config.ropeScaling
            if t.name == "rope_freqs.weight" || t.name == "rope_factors_long.weight" || t.name == "rope_factors_short.weight" { continue }
            guard let hf = GGUFTensorNames.hfName(t.name, layers: config.numHiddenLayers, gemma: config.isGemma, phi3: config.fusedProjections)
            else {
                throw ModelFileError(
                    .unsupported, file.path, "tensor \(t.name) has no Hugging Face counterpart in a \(config.architecture.rawValue) model",
                    at: "tensor \(t.name)")
            }
            guard t.type.isDequantizable else {
                throw ModelFileError(
                    .unsupported, file.path,
                    "tensor \(t.name) has ggml type \(t.type) (id \(t.type.rawValue)), which cannot be dequantized; supported: \(GGMLType.dequantizable.map(\.description).joined(separator: ", "))",
                    at: "tensor \(t.name)")
            }
            var heads: Int?
            if config.architecture == .llama || config.architecture == .mistral {
                if hf.hasSuffix("self_attn.q_proj.weight") || hf.hasSuffix("self_attn.q_proj.bias") {
                    heads = config.numAttentionHeads
                } else if hf.hasSuffix("self_attn.k_proj.weight") || hf.hasSuffix("self_attn.k_proj.bias") {
                    heads = config.numKeyValueHeads
                }
            }
            if let heads {
                let rows = t.ne.count >= 2 ? t.ne[1...].reduce(1, *) : t.elementCount
                guard heads > 0, config.headDim > 0, rows == heads * config.headDim, config.headDim % 2 == 0 else {
                    throw ModelFileError(
                        .malformed, file.path,
                        "tensor \(t.name) has \(rows) rows, but \(heads) heads × head_dim \(config.headDim) are needed to undo the Q/K permutation",
                        at: "tensor \(t.name)")
                }
            }
            entries[hf] = Entry(info: t, permuteHeads: heads, minusOne: config.isGemma && hf.hasSuffix("norm.weight"))
            list.append(SourceTensor(name: hf, shape: t.shape, sourceDType: t.type.description))
        }
        var finalConfig = config
        finalConfig.attentionBias = config.attentionBias || entries["model.layers.0.self_attn.q_proj.bias"] != nil
        finalConfig.tieWordEmbeddings = entries["lm_head.weight"] == nil

        if let freqs = file.tensors.first(where: { $0.name == "rope_freqs.weight" }) {
            finalConfig.ropeScaling = try LlamaRopeFactors.scaling(
                fromFactors: Self.floats(file, freqs), ropeTheta: config.ropeTheta, headDim: config.headDim,
                known: config.ropeScaling, path: file.path)
            notes.append("rope_freqs.weight read as llama3 rope scaling \(Self.describe(finalConfig.ropeScaling!)) and not stored")
        }

        // Phi-3's LongRoPE (llama.cpp's Phi3MiniModel): the two factor tensors, the length ratio and the attention factor.
        let long = file.tensors.first { $0.name == "rope_factors_long.weight" }, short = file.tensors.first { $0.name == "rope_factors_short.weight" }
        if long != nil || short != nil {
            guard let long, let short, config.architecture == .phi3 else {
                throw ModelFileError(
                    .unsupported, file.path, "rope_factors_long/short.weight are read for phi3 only, and as a pair",
                    at: "tensor rope_factors_long.weight")
            }
            let p = "phi3."
            let original = try keys.int(p + "rope.scaling.original_context_length") ?? config.maxPositionEmbeddings
            let factor = Double(config.maxPositionEmbeddings) / Double(max(original, 1))
            // The key is f32: transformers' derived value when it rounds to it, so an HF export writes it back exactly.
            let derived = RopeScaling.longRopeAttentionFactor(factor: factor, original: original)
            let attention = try keys.double(p + "rope.scaling.attn_factor").map { Float($0) == Float(derived) ? derived : $0 } ?? derived
            finalConfig.ropeScaling = RopeScaling(
                ropeType: "longrope", factor: factor, originalMaxPositionEmbeddings: original,
                shortFactor: try Self.floats(file, short).map(Double.init), longFactor: try Self.floats(file, long).map(Double.init),
                attentionFactor: attention)
        }

        metadata = MTFMetadata(
            config: finalConfig, tokenizer: tokenizer, chatTemplate: template,
            provenance: Provenance(
                sourceFormat: "gguf", sourceName: (file.path as NSString).lastPathComponent,
                sourceXxh64: try fileXXH64(file.path), converter: Converter.name, converterVersion: Converter.version,
                baseModel: ModelOrigin.gguf(file)))
        tensors = list
        self.entries = entries
        self.notes = notes
    }

    // MARK: - Loading

    public func load(_ t: SourceTensor, into dst: UnsafeMutablePointer<Float>) throws {
        guard let e = entries[t.name] else {
            throw ModelFileError(.missing, file.path, "no tensor \(t.name) in this file")
        }
        let info = e.info
        let src = file.data(info)
        defer { file.release(info) }
        let cols = info.ne.first ?? 1
        let rows = cols == 0 ? 0 : info.elementCount / cols
        guard let heads = e.permuteHeads else {
            info.type.dequantize(src.baseAddress!, into: dst, count: info.elementCount)
            if e.minusOne { for i in 0..<info.elementCount { dst[i] -= 1 } }
            return
        }
        let headDim = (info.ne.count >= 2 ? rows : info.elementCount) / heads
        if info.ne.count >= 2 {
            // Rows are whole blocks, so each GGUF row dequantizes straight into its HF place.
            let rowBytes = cols / info.type.blockSize * info.type.blockBytes
            for r in 0..<rows {
                let g = LlamaQKPermutation.ggufRow(forHFRow: r, headDim: headDim)
                info.type.dequantize(src.baseAddress! + g * rowBytes, into: dst + r * cols, count: cols)
            }
        } else {
            // A bias: the same permutation over single elements.
            var tmp = [Float](repeating: 0, count: info.elementCount)
            tmp.withUnsafeMutableBufferPointer { info.type.dequantize(src.baseAddress!, into: $0.baseAddress!, count: info.elementCount) }
            for i in 0..<info.elementCount { dst[i] = tmp[LlamaQKPermutation.ggufRow(forHFRow: i, headDim: headDim)] }
        }
    }

    private static func floats(_ file: GGUFFile, _ t: GGUFTensorInfo) throws -> [Float] {
        guard t.type.isDequantizable else {
            throw ModelFileError(.unsupported, file.path, "tensor \(t.name) has ggml type \(t.type) (id \(t.type.rawValue))", at: "tensor \(t.name)")
        }
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            t.type.dequantize(file.data(t).baseAddress!, into: buf.baseAddress!, count: t.elementCount)
            n = t.elementCount
        }
    }

    static func describe(_ s: RopeScaling) -> String {
        "(factor \(s.factor), low_freq_factor \(s.lowFreqFactor ?? 0), high_freq_factor \(s.highFreqFactor ?? 0), original_max_position_embeddings \(s.originalMaxPositionEmbeddings ?? 0))"
    }

    /// GGUF tensor name → Hugging Face name (GGUFTensorNames), nil when there is none.
    public static func huggingFaceName(_ name: String, layers: Int) -> String? { GGUFTensorNames.hfName(name, layers: layers) }

    // MARK: - Config

    static func config(_ k: GGUFKeys, file: GGUFFile, notes: inout [String]) throws -> ModelConfig {
        let archName = try k.requiredString("general.architecture")
        var arch: ModelConfig.Architecture
        switch archName {
        case "llama": arch = .llama
        case "qwen2": arch = .qwen2
        case "qwen3": arch = .qwen3
        case "gemma2": arch = .gemma2
        case "gemma3": arch = .gemma3
        case "phi3": arch = .phi3
        default:
            throw ModelFileError(
                .unsupported, file.path, "architecture \(archName) is not supported (llama, qwen2, qwen3, gemma2, gemma3, phi3)",
                at: "key general.architecture")
        }
        let gemma = arch == .gemma2 || arch == .gemma3
        let p = archName + "."
        let hidden = try k.requiredInt(p + "embedding_length")
        let heads = try k.requiredInt(p + "attention.head_count")
        let kvHeads = try k.int(p + "attention.head_count_kv") ?? heads
        var headDim = hidden / max(heads, 1)
        let keyLength = try k.int(p + "attention.key_length")
        let ropeDims = try k.int(p + "rope.dimension_count")
        if let keyLength, let ropeDims, keyLength != ropeDims {
            throw ModelFileError(
                .unsupported, file.path, "partial rotary embeddings (rope.dimension_count \(ropeDims) < key_length \(keyLength)) are not supported",
                at: "key \(p)rope.dimension_count")
        }
        if let v = keyLength ?? ropeDims { headDim = v }
        if let valueLength = try k.int(p + "attention.value_length"), valueLength != headDim {
            throw ModelFileError(
                .unsupported, file.path, "attention.value_length \(valueLength) differs from the key length \(headDim)",
                at: "key \(p)attention.value_length")
        }
        var scaling: RopeScaling?
        if let type = try k.string(p + "rope.scaling.type"), type != "none" {
            guard type == "linear" else {
                throw ModelFileError(
                    .unsupported, file.path, "rope scaling type \(type) is not supported (linear, llama3)", at: "key \(p)rope.scaling.type")
            }
            let factor = try k.double(p + "rope.scaling.factor") ?? 1
            scaling = RopeScaling(ropeType: "linear", factor: factor)
        }
        let vocab = try k.int(p + "vocab_size") ?? k.array("tokenizer.ggml.tokens")?.count
        guard let vocab else {
            throw ModelFileError(.missing, file.path, "neither \(p)vocab_size nor tokenizer.ggml.tokens is present")
        }
        let layers = try k.requiredInt(p + "block_count")
        // llama.cpp has no query_pre_attn_scalar key: it scales by head_dim^-1/2, and by (hidden/heads)^-1/2 for
        // the 27B shapes only (llama-model.cpp: Gemma 2 with 46 layers, Gemma 3 with 62).
        let bigGemma = arch == .gemma2 ? layers == 46 : layers == 62
        let queryPreAttnScalar = gemma ? Double(bigGemma ? hidden / max(heads, 1) : headDim) : nil
        // A window (llama.cpp's key): on every layer of a llama, which makes it Mistral as transformers names it; on
        // the sliding layers of a Gemma.
        let window = try k.int(p + "attention.sliding_window").flatMap { $0 > 0 ? $0 : nil }
        if window != nil && arch == .llama { arch = .mistral }
        var eos: [Int] = []
        if let e = try k.int("tokenizer.ggml.eos_token_id") { eos.append(e) }
        if let e = try k.int("tokenizer.ggml.eot_token_id"), !eos.contains(e) { eos.append(e) }
        return ModelConfig(
            architecture: arch, hiddenSize: hidden, intermediateSize: try k.requiredInt(p + "feed_forward_length"),
            numHiddenLayers: layers, numAttentionHeads: heads, numKeyValueHeads: kvHeads,
            headDim: headDim, rmsNormEps: try k.requiredDouble(p + "attention.layer_norm_rms_epsilon"),
            ropeTheta: try k.double(p + "rope.freq_base") ?? 10000, ropeScaling: scaling,
            maxPositionEmbeddings: try k.int(p + "context_length") ?? 2048, vocabSize: vocab, tieWordEmbeddings: true,
            attentionBias: arch == .qwen2, qkNorm: arch == .qwen3 || arch == .gemma3, hiddenAct: gemma ? "gelu_pytorch_tanh" : "silu",
            bosTokenId: try k.int("tokenizer.ggml.bos_token_id"), eosTokenIds: eos,
            padTokenId: try k.int("tokenizer.ggml.padding_token_id"), slidingWindow: window, queryPreAttnScalar: queryPreAttnScalar,
            attnLogitSoftcapping: gemma ? try k.double(p + "attn_logit_softcapping") : nil,
            finalLogitSoftcapping: gemma ? try k.double(p + "final_logit_softcapping") : nil,
            // llama.cpp's fixed layouts: Gemma 2's even layers slide; Gemma 3's slide but every 6th, with RoPE base 10000.
            ropeLocalBaseFreq: arch == .gemma3 ? 10000 : nil, layerTypes: gemma ? GGUFExporter.gemmaLayerTypes(arch, layers: layers) : nil)
    }
}

// MARK: - Typed key access

/// Metadata lookups whose errors name the key; integer-valued arrays (per-layer counts) must be uniform.
struct GGUFKeys {
    let file: GGUFFile

    private func wrong(_ key: String, _ expected: String, _ v: GGUFValue) -> ModelFileError {
        ModelFileError(.malformed, file.path, "\(key) must be \(expected), found \(v.typeName)", at: "key \(key)")
    }

    func int(_ key: String) throws -> Int? {
        guard let v = file[key] else { return nil }
        if let i = v.int { return i }
        if let a = v.array, let first = a.first?.int, a.allSatisfy({ $0.int == first }) { return first }
        if v.array != nil {
            throw ModelFileError(.unsupported, file.path, "\(key) differs between layers, which is not supported", at: "key \(key)")
        }
        throw wrong(key, "an integer", v)
    }

    func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else { throw ModelFileError(.missing, file.path, "required key \(key) is missing") }
        return i
    }

    func double(_ key: String) throws -> Double? {
        guard let v = file[key] else { return nil }
        guard let d = v.double else { throw wrong(key, "a number", v) }
        return d
    }

    func requiredDouble(_ key: String) throws -> Double {
        guard let d = try double(key) else { throw ModelFileError(.missing, file.path, "required key \(key) is missing") }
        return d
    }

    func string(_ key: String) throws -> String? {
        guard let v = file[key] else { return nil }
        guard let s = v.string else { throw wrong(key, "a string", v) }
        return s
    }

    func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw ModelFileError(.missing, file.path, "required key \(key) is missing") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = file[key] else { return nil }
        guard let b = v.bool else { throw wrong(key, "a bool", v) }
        return b
    }

    func array(_ key: String) throws -> [GGUFValue]? {
        guard let v = file[key] else { return nil }
        guard let a = v.array else { throw wrong(key, "an array", v) }
        return a
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let v = file[key] else { return nil }
        guard case .array(.string, let a) = v else { throw wrong(key, "an array of strings", v) }
        return a.map { $0.string! }
    }
}
