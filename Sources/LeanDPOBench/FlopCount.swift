// The FLOPs of the large products (every sgemm) of a pass, counted analytically from the model's shapes
// and the batch's token counts, following what the code runs (Sources/Model/Passes.swift, LayerForward,
// LayerBackward; Kernels Attention and TokenLogProbs). Elementwise work (norms, RoPE, SwiGLU, softmax,
// AdamW) is not counted: it is small next to these and is not what MFU measures. A multiply-add is 2.
//
// T rows of the packed stream (a pair's shared prompt runs once: rejected continues chosen's prefix),
// P scored rows (completion tokens), D model dim, Q = H·Dh, KV = Hk·Dh,
// F ffn dim, V vocab, L layers, R LoRA rank, B = Attention.blockRows; a LoRA target maps K → N features.
//
//   frozen(T)      = 2T·(D·Q + 2·D·KV + Q·D + 2·D·F + F·D)          q, k, v, o, gate, up, down
//   loraF(T)       = Σ_targets 2T·R·(K + N)                           tmp = x·Aᵀ; out += s·tmp·Bᵀ
//   loraB(T)       = Σ_targets 2T·R·(2N + K) + 2T·R·K [dinp]           dtmp, dB, dA (+ dinp)
//   S              = Σ_segments Σ_query blocks nb·(np + i0 + nb)       score entries the kernel computes
//                                                                      (causal, whole B-row blocks; np the
//                                                                      prefix a continuation attends to)
//   attnF          = 4·Dh·H·S                                          q·kᵀ, p·v
//   attnB          = 10·Dh·H·S                                         recomputed q·kᵀ, dout·vᵀ, pᵀ·dout, ds·k, dsᵀ·q
//   head(P)        = 2·P·D·V                                           logits at the scored rows only
//
//   forward pass (reference, eval)  = L·(frozen + [loraF] + attnF) + head
//   training step                   = L·(frozen + loraF + attnF) + head            forward
//                                   + 2·head                                        head backward (recomputes logits)
//                                   + (L−1−K)·(frozen − 2T·F·D + loraF − 2T·R·D·[down] + attnF)
//                                                                                   recompute of every layer but the last
//                                                                                   and the K kept ones (keptLayers), no
//                                                                                   frozen down, only x·Aᵀ of down's LoRA
//                                   + L·(frozen + loraB + attnB) − 2T·D·(Q + 2·KV) − Σ_{q,k,v} 2T·R·D
//                                                                                   backward; layer 0 skips the input
//                                                                                   gradient of q, k, v (frozen and LoRA)

import JSON
import Kernels
import Model
import TensorFile

struct FlopCount {
    let config: ModelConfig
    /// nil: no adapter (the reference pass).
    let lora: LoRAConfig?

    /// The products of one pass, by kind, in FLOPs.
    struct Parts {
        var frozen = 0.0
        var lora = 0.0
        var attention = 0.0
        var head = 0.0
        var total: Double { frozen + lora + attention + head }

        static func + (a: Parts, b: Parts) -> Parts {
            Parts(frozen: a.frozen + b.frozen, lora: a.lora + b.lora, attention: a.attention + b.attention, head: a.head + b.head)
        }
    }

    var d: Double { Double(config.hiddenSize) }
    var q: Double { Double(config.numAttentionHeads * config.headDim) }
    var kv: Double { Double(config.numKeyValueHeads * config.headDim) }
    var f: Double { Double(config.intermediateSize) }
    var layers: Double { Double(config.numHiddenLayers) }

    // MARK: - Pieces

    func frozen(_ t: Double) -> Double { 2 * t * (d * q + 2 * d * kv + q * d + 2 * d * f + f * d) }

    func loraTargets() -> [(target: LoRATarget, k: Double, n: Double)] {
        guard let lora else { return [] }
        return lora.targets.map { t in
            let s = LoRAAdapter.shape(t, config)
            return (t, Double(s.inFeatures), Double(s.outFeatures))
        }
    }

    var rank: Double { Double(lora?.r ?? 0) }

    func loraForward(_ t: Double) -> Double { loraTargets().reduce(0) { $0 + 2 * t * rank * ($1.k + $1.n) } }

    func loraBackward(_ t: Double) -> Double { loraTargets().reduce(0) { $0 + 2 * t * rank * (2 * $1.n + 2 * $1.k) } }

    /// One segment of the packed stream: its own rows and the prefix rows it continues (0: independent).
    struct Segment {
        var length: Int
        var prefix: Int
    }

    static func segments(_ batch: PackedBatch) -> [Segment] {
        batch.segments.map { Segment(length: $0.length, prefix: $0.prefix.count) }
    }

    /// Score entries the blocked causal kernel computes: per segment, per block of B query rows starting
    /// at i0, nb rows against the np + i0 + nb keys they can see (np: the prefix it continues).
    static func scoreEntries(_ segments: [Segment]) -> Double {
        var s = 0.0
        for seg in segments {
            var i0 = 0
            while i0 < seg.length {
                let nb = min(Attention.blockRows, seg.length - i0)
                s += Double(nb) * Double(seg.prefix + i0 + nb)
                i0 += nb
            }
        }
        return s
    }

    func attention(_ segments: [Segment], products: Double) -> Double {
        products * Double(config.headDim * config.numAttentionHeads) * Self.scoreEntries(segments)
    }

    func head(_ p: Int) -> Double { 2 * Double(p) * d * Double(config.vocabSize) }

    // MARK: - Passes

    /// A forward pass over a packed stream of `segments`, scoring `scored` rows.
    func forward(segments: [Segment], scored: Int) -> Parts {
        let t = Double(segments.reduce(0) { $0 + $1.length })
        return Parts(
            frozen: layers * frozen(t), lora: layers * loraForward(t), attention: layers * attention(segments, products: 4),
            head: head(scored))
    }

    /// One forward + backward of the training pass (`LlamaModel.forwardBackward`).
    /// `kept`: layers whose activations the pass kept instead of recomputing (`LlamaModel.keptLayers`).
    func trainingStep(segments: [Segment], scored: Int, kept: Int) -> Parts {
        precondition(lora != nil, "a training step has an adapter")
        let t = Double(segments.reduce(0) { $0 + $1.length })
        var p = forward(segments: segments, scored: scored)
        // head backward: logits recomputed chunk by chunk, then dhidden = dlogits·W
        p.head += 2 * head(scored)
        // recompute of layers 0..<L−1 without a kept slot: no frozen down; down's LoRA only makes tmp = h·Aᵀ
        let targets = loraTargets()
        let downB = targets.contains { $0.target == .down } ? 2 * t * rank * d : 0
        let recomputed = layers - 1 - Double(kept)
        p.frozen += recomputed * (frozen(t) - 2 * t * f * d)
        p.lora += recomputed * (loraForward(t) - downB)
        p.attention += recomputed * attention(segments, products: 4)
        // backward of every layer; layer 0 needs no input gradient through q, k, v
        p.frozen += layers * frozen(t) - 2 * t * d * (q + 2 * kv)
        let qkvInput = targets.filter { [.q, .k, .v].contains($0.target) }.reduce(0) { $0 + 2 * t * rank * $1.k }
        p.lora += layers * loraBackward(t) - qkvInput
        p.attention += layers * attention(segments, products: 10)
        return p
    }
}

extension FlopCount.Parts {
    /// GFLOP by kind, for the JSON line.
    var fields: JSONText {
        .object([
            ("frozen", .number(frozen / 1e9, digits: 2)), ("lora", .number(lora / 1e9, digits: 2)),
            ("attention", .number(attention / 1e9, digits: 2)), ("lm_head", .number(head / 1e9, digits: 2)),
        ])
    }
}
