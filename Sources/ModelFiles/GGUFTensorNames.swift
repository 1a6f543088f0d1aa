// GGUF ↔ Hugging Face tensor names (formats.md §2), one table read in both directions: the importer maps
// `blk.N.attn_q.weight` → `model.layers.N.self_attn.q_proj.weight`, the exporter the other way. Gemma's four
// norms per layer take a table of their own (gguf-py's GEMMA2/GEMMA3 mapping: ffn_norm is the
// pre-feedforward norm there, post_attention_norm and post_ffw_norm the output norms). Phi-3 keeps its fused
// weights: attn_qkv is self_attn.qkv_proj and ffn_up is the fused mlp.gate_up_proj (gguf-py's PHI3 mapping).

enum GGUFTensorNames {
    /// Whole-model tensors: (GGUF, Hugging Face).
    static let model: [(gguf: String, hf: String)] = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ]

    /// Per-layer modules: GGUF `blk.N.<gguf>.{weight,bias}` is HF `model.layers.N.<hf>.{weight,bias}`.
    static let layer: [(gguf: String, hf: String)] = [
        ("attn_norm", "input_layernorm"),
        ("ffn_norm", "post_attention_layernorm"),
        ("attn_q", "self_attn.q_proj"),
        ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"),
        ("attn_q_norm", "self_attn.q_norm"),
        ("attn_k_norm", "self_attn.k_norm"),
        ("ffn_gate", "mlp.gate_proj"),
        ("ffn_up", "mlp.up_proj"),
        ("ffn_down", "mlp.down_proj"),
    ]

    /// Gemma's per-layer modules: the llama table with its own norms.
    static let gemmaLayer: [(gguf: String, hf: String)] =
        layer.filter { $0.gguf != "ffn_norm" } + [
            ("ffn_norm", "pre_feedforward_layernorm"),
            ("post_attention_norm", "post_attention_layernorm"),
            ("post_ffw_norm", "post_feedforward_layernorm"),
        ]

    /// Phi-3's per-layer modules: the llama table with the fused q/k/v and gate/up weights.
    static let phi3Layer: [(gguf: String, hf: String)] =
        layer.filter { !["attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"].contains($0.gguf) } + [
            ("attn_qkv", "self_attn.qkv_proj"),
            ("ffn_up", "mlp.gate_up_proj"),
        ]

    private static let hfOfModel = Dictionary(uniqueKeysWithValues: model.map { ($0.gguf, $0.hf) })
    private static let ggufOfModel = Dictionary(uniqueKeysWithValues: model.map { ($0.hf, $0.gguf) })
    private static let hfOfLayer = Dictionary(uniqueKeysWithValues: layer.map { ($0.gguf, $0.hf) })
    private static let ggufOfLayer = Dictionary(uniqueKeysWithValues: layer.map { ($0.hf, $0.gguf) })
    private static let hfOfGemmaLayer = Dictionary(uniqueKeysWithValues: gemmaLayer.map { ($0.gguf, $0.hf) })
    private static let ggufOfGemmaLayer = Dictionary(uniqueKeysWithValues: gemmaLayer.map { ($0.hf, $0.gguf) })
    private static let hfOfPhi3Layer = Dictionary(uniqueKeysWithValues: phi3Layer.map { ($0.gguf, $0.hf) })
    private static let ggufOfPhi3Layer = Dictionary(uniqueKeysWithValues: phi3Layer.map { ($0.hf, $0.gguf) })

    /// GGUF name → Hugging Face name, nil when there is none or the block index is not below `layers`.
    static func hfName(_ name: String, layers: Int, gemma: Bool = false, phi3: Bool = false) -> String? {
        if let hf = hfOfModel[name] { return hf }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let n = layerIndex(parts[1]), n < layers, parts[3] == "weight" || parts[3] == "bias",
            let module = (phi3 ? hfOfPhi3Layer : gemma ? hfOfGemmaLayer : hfOfLayer)[String(parts[2])]
        else { return nil }
        return "model.layers.\(n).\(module).\(parts[3])"
    }

    /// Hugging Face name → GGUF name, nil when there is none.
    static func ggufName(_ name: String, gemma: Bool = false, phi3: Bool = false) -> String? {
        if let g = ggufOfModel[name] { return g }
        let prefix = "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let n = layerIndex(rest[..<dot]) else { return nil }
        let module = rest[rest.index(after: dot)...]
        for suffix in ["weight", "bias"] where module.hasSuffix("." + suffix) {
            let table = phi3 ? ggufOfPhi3Layer : gemma ? ggufOfGemmaLayer : ggufOfLayer
            guard let g = table[String(module.dropLast(suffix.count + 1))] else { return nil }
            return "blk.\(n).\(g).\(suffix)"
        }
        return nil
    }

    /// A block index written canonically (`3`, not `03` or `+3`).
    private static func layerIndex(_ s: Substring) -> Int? {
        guard let n = Int(s), n >= 0, String(n) == s else { return nil }
        return n
    }
}
