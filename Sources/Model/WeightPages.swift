// Keeping the mapped base model out of the resident set between uses: a batch pass (scoring or training)
// walks the layers in order, so once it is done with a layer its weight pages are unmapped from this
// process (MADV_DONTNEED). They stay in the page cache, and the next touch maps them back with a minor
// fault (the kernel maps 16 neighbouring cached pages per fault): peak RSS drops by most of the model's
// size for about 1% more CPU (system time; prefaulting with MADV_POPULATE_READ measured no better).
// Generation keeps every page: each new token touches all layers.
// L layers.

import TensorFile

/// The mapped tensors of the model's weight matrices, per layer and for the embedding / LM head.
struct WeightPages {
    let file: MappedTensorFile
    let layers: [[TensorInfo]]  // (L) the projection weights (and biases) of each layer
    let head: [TensorInfo]  // embedding, and lm_head when untied

    init(file: MappedTensorFile, config c: ModelConfig) {
        self.file = file
        var layers: [[TensorInfo]] = []
        let names = [
            "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
            "mlp.down_proj", "self_attn.qkv_proj", "mlp.gate_up_proj",  // the last two: Phi-3's fused weights
        ]
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            layers.append(names.flatMap { [p + $0 + ".weight", p + $0 + ".bias"] }.compactMap { file.info($0) })
        }
        self.layers = layers
        head = ["model.embed_tokens.weight", "lm_head.weight"].compactMap { file.info($0) }
    }

    /// Unmaps layer `l`'s weight pages from this process.
    func release(layer l: Int) {
        for t in layers[l] { file.advise(t, .dontNeed) }
    }

    /// Unmaps the embedding and LM head pages.
    func releaseHead() {
        for t in head { file.advise(t, .dontNeed) }
    }
}
