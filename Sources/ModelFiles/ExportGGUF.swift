// Model → a GGUF file llama.cpp loads (ggml's docs/gguf.md; names as llama.cpp's gguf-py constants.py): `general.*` and `<arch>.*` keys, the
// tokenizer as `tokenizer.ggml.*`, tensors renamed Hugging Face → GGUF (GGUFTensorNames, the importer's
// table read backwards), llama's Q/K rows permuted back to GGML's adjacent-pair RoPE order, Llama 3
// rope scaling as `rope_freqs.weight`, 1-D tensors always F32, no `output.weight` when tied. Gemma's norm
// weights are written as w + 1, as llama.cpp's converter does.

import Foundation
import TensorFile

public enum GGUFExporter {
    /// What was written.
    public struct Summary: Sendable {
        public var tensors: Int
        public var bytes: Int
        /// Matrices written in another type than asked (Q8_0 rows that are not whole blocks go F16).
        public var notes: [String]
    }

    /// Writes `source` to `path` with matrices in `type` (F32, F16, BF16 or Q8_0). `name` is
    /// general.name (default: the source name without its extension).
    @discardableResult
    public static func write(
        source: any ModelSource, to path: String, type: GGMLType, name: String? = nil, force: Bool = false,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Summary {
        guard GGMLType.encodable.contains(type) else {
            throw ModelFileError(.unsupported, path, "cannot write GGUF tensors as \(type); choose F32, F16, BF16 or Q8_0")
        }
        try ExportDestination.check(path, kind: .file, force: force)
        let meta = source.metadata
        let config = meta.config
        var notes: [String] = []
        if config.isGemma, let q = config.queryPreAttnScalar {
            let big = config.numHiddenLayers == (config.architecture == .gemma2 ? 46 : 62)
            let llamaCpp = Double(big ? config.hiddenSize / config.numAttentionHeads : config.headDim)
            if q != llamaCpp {
                notes.append(
                    "query_pre_attn_scalar \(q) has no GGUF key; llama.cpp (and a re-import) will scale attention by \(llamaCpp)^-1/2")
            }
        }

        // MARK: Tensors
        struct Planned {
            let source: SourceTensor?
            let out: GGUFWriter.Tensor
            /// Heads to permute rows with (llama Q and K).
            let permuteHeads: Int?
            /// The values of a tensor made from the config (rope_freqs, rope_factors_*), when `source` is nil.
            var values: [Float]? = nil
        }
        var planned: [Planned] = []
        var tail: [Planned] = []
        let plan = try Converter.plan(source)
        for t in plan {
            if t.name == "lm_head.weight" && config.tieWordEmbeddings { continue }
            guard let g = GGUFTensorNames.ggufName(t.name, gemma: config.isGemma, phi3: config.fusedProjections) else {
                throw ModelFileError(.unsupported, path, "tensor \(t.name) has no GGUF name in a \(config.architecture.rawValue) model")
            }
            var outType = t.shape.count == 1 ? GGMLType.f32 : type
            if outType.blockSize > 1 && t.shape.last! % outType.blockSize != 0 {
                outType = .f16
                notes.append("\(g): rows of \(t.shape.last!) are not whole \(type) blocks; written as F16")
            }
            var heads: Int?
            if config.architecture == .llama || config.architecture == .mistral {
                if t.name.hasSuffix("self_attn.q_proj.weight") || t.name.hasSuffix("self_attn.q_proj.bias") {
                    heads = config.numAttentionHeads
                } else if t.name.hasSuffix("self_attn.k_proj.weight") || t.name.hasSuffix("self_attn.k_proj.bias") {
                    heads = config.numKeyValueHeads
                }
            }
            let p = Planned(source: t, out: GGUFWriter.Tensor(name: g, shape: t.shape, type: outType), permuteHeads: heads)
            if g == "output_norm.weight" || g == "output.weight" { tail.append(p) } else { planned.append(p) }
        }
        planned += tail.sorted { $0.out.name > $1.out.name }  // output_norm, then output (llama.cpp's order)
        if let s = config.ropeScaling, s.ropeType == "llama3" {
            let factors = LlamaRopeFactors.factors(s, ropeTheta: config.ropeTheta, headDim: config.headDim).map { Float($0) }
            planned.insert(
                Planned(
                    source: nil, out: GGUFWriter.Tensor(name: "rope_freqs.weight", shape: [config.headDim / 2], type: .f32), permuteHeads: nil,
                    values: factors),
                at: min(1, planned.count))
        }
        if let s = config.ropeScaling, s.ropeType == "longrope", let long = s.longFactor, let short = s.shortFactor {
            // llama.cpp's Phi3MiniModel.generate_extra_tensors: the LongRoPE factors as two F32 tensors, first.
            let extra = [("rope_factors_long.weight", long), ("rope_factors_short.weight", short)].map { name, v in
                Planned(
                    source: nil, out: GGUFWriter.Tensor(name: name, shape: [v.count], type: .f32), permuteHeads: nil, values: v.map { Float($0) })
            }
            planned.insert(contentsOf: extra, at: 0)
        }

        // MARK: Write
        let writer = try GGUFWriter(
            path: path, metadata: try metadata(meta, type: type, name: name ?? defaultName(meta)), tensors: planned.map(\.out))
        let capacity = max(1, plan.map(\.elementCount).max() ?? 1)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: capacity)  // (largest tensor)
        defer { buffer.deallocate() }
        var scratch = [UInt8](repeating: 0, count: 1 << 20)
        for (i, p) in planned.enumerated() {
            let count = p.out.elementCount
            if let t = p.source {
                try source.load(t, into: buffer)
            } else {
                p.values!.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: count) }
            }
            if config.isGemma, p.out.name.hasSuffix("norm.weight") { for j in 0..<count { buffer[j] += 1 } }
            try encode(buffer, p.out, permuteHeads: p.permuteHeads, headDim: config.headDim, scratch: &scratch, writer: writer)
            progress?(i + 1, planned.count)
        }
        try writer.finish()
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return Summary(tensors: planned.count, bytes: bytes, notes: notes)
    }

    /// Encodes one tensor from f32 and appends it, rows in GGUF order (permuted for llama Q/K).
    static func encode(
        _ values: UnsafeMutablePointer<Float>, _ t: GGUFWriter.Tensor, permuteHeads: Int?, headDim: Int, scratch: inout [UInt8],
        writer: GGUFWriter
    ) throws {
        let cols = t.ne[0]
        let rows = t.elementCount / cols
        let rowBytes = cols / t.type.blockSize * t.type.blockBytes
        if let heads = permuteHeads, rows == 1 {
            // A bias: the same permutation over single elements, done in place through a copy.
            let copy = Array(UnsafeBufferPointer(start: values, count: cols))
            let hd = cols / heads
            for g in 0..<cols { values[g] = copy[LlamaQKPermutation.hfRow(forGGUFRow: g, headDim: hd)] }
        }
        let permuteRows = permuteHeads != nil && rows > 1
        if scratch.count < rowBytes { scratch = [UInt8](repeating: 0, count: rowBytes) }
        let rowsPerChunk = max(1, scratch.count / rowBytes)
        var r = 0
        while r < rows {
            let n = min(rowsPerChunk, rows - r)
            try scratch.withUnsafeMutableBytes { dst in
                for k in 0..<n {
                    let g = r + k
                    let src = permuteRows ? LlamaQKPermutation.hfRow(forGGUFRow: g, headDim: headDim) : g
                    t.type.encode(values + src * cols, into: dst.baseAddress! + k * rowBytes, count: cols)
                }
                try writer.append(UnsafeRawBufferPointer(rebasing: dst[0..<(n * rowBytes)]))
            }
            r += n
        }
    }

    static func defaultName(_ m: MTFMetadata) -> String {
        let n = m.provenance.sourceName
        for ext in [".mtf", ".gguf", ".safetensors"] where n.hasSuffix(ext) { return String(n.dropLast(ext.count)) }
        return n
    }

    // MARK: - Names

    /// Hugging Face tensor name → GGUF name (formats.md §2), nil when there is none.
    public static func ggufName(_ name: String) -> String? { GGUFTensorNames.ggufName(name) }

    // MARK: - Metadata

    /// TokenizerData.preTokenizer → tokenizer.ggml.pre.
    static let preTokenizerNames: [String: String] = ["smollm": "smollm", "gpt2": "gpt-2", "llama3": "llama-bpe", "qwen2": "qwen2"]

    /// llama.cpp's LLAMA_FTYPE of a whole-file type.
    static func fileType(_ t: GGMLType) -> UInt32 {
        switch t {
        case .f16: 1
        case .q8_0: 7
        case .bf16: 32
        default: 0
        }
    }

    /// The layer kinds llama.cpp gives a Gemma GGUF: Gemma 2's even layers slide (swa pattern 2), Gemma 3's all
    /// but every 6th (swa pattern 6).
    public static func gemmaLayerTypes(_ arch: ModelConfig.Architecture, layers: Int) -> [String] {
        let pattern = arch == .gemma3 ? 6 : 2
        return (0..<layers).map { $0 % pattern < pattern - 1 ? "sliding_attention" : "full_attention" }
    }

    /// Every key, in the order llama.cpp's converter writes them.
    public static func metadata(_ m: MTFMetadata, type: GGMLType, name: String) throws -> [(key: String, value: GGUFValue)] {
        let c = m.config
        let tok = m.tokenizer
        let origin = m.provenance.sourceName
        // llama.cpp writes Mistral as a llama model (its window in attention.sliding_window).
        let arch = c.architecture == .mistral ? "llama" : c.architecture.rawValue
        func u32(_ v: Int, _ key: String) throws -> GGUFValue {
            guard let x = UInt32(exactly: v) else { throw ModelFileError(.unsupported, origin, "\(key) \(v) does not fit a GGUF u32") }
            return .uint32(x)
        }
        var kv: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
            ("general.file_type", .uint32(fileType(type))),
        ]
        if type.blockSize > 1 { kv.append(("general.quantization_version", .uint32(2))) }
        let p = arch + "."
        kv += [
            (p + "vocab_size", try u32(c.vocabSize, "vocab_size")),
            (p + "context_length", try u32(c.maxPositionEmbeddings, "max_position_embeddings")),
            (p + "embedding_length", try u32(c.hiddenSize, "hidden_size")),
            (p + "block_count", try u32(c.numHiddenLayers, "num_hidden_layers")),
            (p + "feed_forward_length", try u32(c.intermediateSize, "intermediate_size")),
            (p + "rope.dimension_count", try u32(c.headDim, "head_dim")),
            (p + "attention.head_count", try u32(c.numAttentionHeads, "num_attention_heads")),
            (p + "attention.head_count_kv", try u32(c.numKeyValueHeads, "num_key_value_heads")),
            (p + "attention.key_length", try u32(c.headDim, "head_dim")),
            (p + "attention.value_length", try u32(c.headDim, "head_dim")),
            (p + "rope.freq_base", .float32(Float(c.ropeTheta))),
            (p + "attention.layer_norm_rms_epsilon", .float32(Float(c.rmsNormEps))),
        ]
        if c.isGemma {
            // llama.cpp's Gemma2Model/Gemma3Model keys; query_pre_attn_scalar has none (llama.cpp derives the scale), and
            // the layer kinds and Gemma 3's local RoPE base are fixed there: anything else cannot be written.
            if let types = c.layerTypes, types != gemmaLayerTypes(c.architecture, layers: c.numHiddenLayers) {
                throw ModelFileError(
                    .unsupported, origin,
                    "layer_types \(types) cannot be written to GGUF: llama.cpp's \(arch) has \(gemmaLayerTypes(c.architecture, layers: c.numHiddenLayers))"
                )
            }
            if c.architecture == .gemma3, let local = c.ropeLocalBaseFreq, local != 10000 {
                throw ModelFileError(.unsupported, origin, "rope_local_base_freq \(local) cannot be written to GGUF: llama.cpp's gemma3 uses 10000")
            }
            if let cap = c.attnLogitSoftcapping {
                guard c.architecture == .gemma2 else {
                    throw ModelFileError(.unsupported, origin, "attn_logit_softcapping cannot be written to a gemma3 GGUF (llama.cpp has none)")
                }
                kv.append((p + "attn_logit_softcapping", .float32(Float(cap))))
            }
            if let cap = c.finalLogitSoftcapping { kv.append((p + "final_logit_softcapping", .float32(Float(cap)))) }
            // The sliding layers' window (their kinds are llama.cpp's fixed layout, checked above); without one every
            // layer attends globally, which a window as long as the context is too.
            kv.append((p + "attention.sliding_window", try u32(c.slidingWindow ?? c.maxPositionEmbeddings, "sliding_window")))
        }
        if let s = c.ropeScaling {
            switch s.ropeType {
            case "llama3": break  // rope_freqs.weight carries it
            case "linear": kv += [(p + "rope.scaling.type", .string("linear")), (p + "rope.scaling.factor", .float32(Float(s.factor)))]
            case "longrope" where c.architecture == .phi3:
                // rope_factors_long/short carry the factors; the length ratio is context_length / original_context_length.
                let derived = Double(c.maxPositionEmbeddings) / Double(s.originalMaxPositionEmbeddings ?? c.maxPositionEmbeddings)
                guard s.factor == derived else {
                    throw ModelFileError(
                        .unsupported, origin,
                        "longrope factor \(s.factor) differs from max_position_embeddings / original_max_position_embeddings (\(derived)), which is all a phi3 GGUF can say"
                    )
                }
                kv.append((p + "rope.scaling.attn_factor", .float32(Float(s.attentionFactor ?? 1))))
            default:
                throw ModelFileError(
                    .unsupported, origin, "rope scaling \(s.ropeType) cannot be written to a \(arch) GGUF (linear, llama3; phi3: longrope)")
            }
        }
        if c.architecture == .phi3 {
            // llama.cpp's Phi3MiniModel: the pretraining length, and a window of 0 for none (Phi-4).
            let original = c.ropeScaling?.originalMaxPositionEmbeddings ?? c.maxPositionEmbeddings
            kv.append((p + "rope.scaling.original_context_length", try u32(original, "original_max_position_embeddings")))
            if c.slidingWindow == nil { kv.append((p + "attention.sliding_window", .uint32(0))) }
        }
        if let w = c.slidingWindow, !c.isGemma {
            guard (0..<c.numHiddenLayers).allSatisfy({ c.attentionWindow(layer: $0) == w }) else {
                throw ModelFileError(
                    .unsupported, origin, "a sliding window on some layers only (layer_types) cannot be written to a \(arch) GGUF")
            }
            kv.append((p + "attention.sliding_window", try u32(w, "sliding_window")))
        }

        // MARK: Tokenizer
        // llama.cpp sizes the vocabulary from the token list: rows beyond the tokenizer's (Phi-3's 32064 embedding
        // rows for 32011 tokens) get "[PAD<i>]" tokens of type UNUSED, as its converter writes them.
        let padding = (tok.vocab.count..<max(tok.vocab.count, c.vocabSize)).map { "[PAD\($0)]" }
        if let spm = tok.sentencePiece {
            // llama.cpp's "llama" model: scores rank the merges (kept from a GGUF source, derived from the merges
            // list otherwise); add_space_prefix stands for the "▁" prefix of the normalizer or Metaspace.
            let scores = spm.scores ?? SentencePieceMerges.scores(vocab: tok.vocab, merges: tok.merges)
            let types = spm.tokenTypes ?? SentencePieceMerges.tokenTypes(tok)
            let addSpacePrefix =
                spm.normalizer.contains { $0.type == "prepend" } || (spm.metaspace.map { $0.prependScheme != "never" } ?? false)
            kv += [
                ("tokenizer.ggml.model", .string("llama")),
                ("tokenizer.ggml.pre", .string("default")),
                ("tokenizer.ggml.tokens", .array(.string, (tok.vocab + padding).map { .string($0) })),
                ("tokenizer.ggml.scores", .array(.float32, (scores + padding.map { _ in -10000 }).map { .float32($0) })),
                ("tokenizer.ggml.token_type", .array(.int32, (types + padding.map { _ in 5 }).map { .int32(Int32($0)) })),
                ("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix)),
            ]
        } else {
            guard let pre = preTokenizerNames[tok.preTokenizer] else {
                throw ModelFileError(
                    .unsupported, origin, "pre-tokenizer \(tok.preTokenizer) has no llama.cpp name (smollm, gpt2, llama3, qwen2)")
            }
            var types = [GGUFValue](repeating: .int32(1), count: tok.vocab.count)
            for a in tok.addedTokens where a.id >= 0 && a.id < types.count { types[a.id] = .int32(a.special ? 3 : 4) }
            kv += [
                ("tokenizer.ggml.model", .string("gpt2")),
                ("tokenizer.ggml.pre", .string(pre)),
                ("tokenizer.ggml.tokens", .array(.string, (tok.vocab + padding).map { .string($0) })),
                ("tokenizer.ggml.token_type", .array(.int32, types + padding.map { _ in .int32(5) })),
                ("tokenizer.ggml.merges", .array(.string, tok.merges.map { .string($0) })),
            ]
        }
        let ids = TokenIds(tok)
        func idKey(_ key: String, _ id: Int?) throws {
            if let id, id >= 0, id < tok.vocab.count { kv.append((key, try u32(id, key))) }
        }
        try idKey("tokenizer.ggml.bos_token_id", ids.id(tok.bosToken) ?? c.bosTokenId)
        try idKey("tokenizer.ggml.eos_token_id", ids.id(tok.eosToken) ?? c.eosTokenIds.first)
        try idKey("tokenizer.ggml.unknown_token_id", ids.id(tok.unkToken ?? tok.sentencePiece?.unkToken))
        try idKey("tokenizer.ggml.padding_token_id", ids.id(tok.padToken) ?? c.padTokenId)
        kv += [("tokenizer.ggml.add_bos_token", .bool(tok.addBosToken)), ("tokenizer.ggml.add_eos_token", .bool(tok.addEosToken))]
        if let t = m.chatTemplate { kv.append(("tokenizer.chat_template", .string(t))) }
        return kv
    }
}

/// Token string → id, added tokens first (they win over an equal vocabulary string).
struct TokenIds {
    /// Keyed by bytes: canonically equivalent tokens are distinct ids.
    private var map: [[UInt8]: Int] = [:]

    init(_ t: TokenizerData) {
        map.reserveCapacity(t.vocab.count)
        for (i, s) in t.vocab.enumerated().reversed() { map[Array(s.utf8)] = i }
        for a in t.addedTokens.reversed() { map[Array(a.content.utf8)] = a.id }
    }

    func id(_ token: String?) -> Int? { token.flatMap { map[Array($0.utf8)] } }
}
