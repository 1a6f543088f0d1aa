// One decoder layer forward, llm.c style: every intermediate the backward needs is left in the arena's
// current layer record (the shared buffers, or the kept slot a training pass bound for this layer).
// x2 = x + o_proj(attn(rope(norm_qk(q_proj(ln1))), rope(norm_qk(k_proj(ln1))), v_proj(ln1))), ln1 = rmsnorm(x)
// out = x2 + down_proj(silu(gate_proj(ln2)) · up_proj(ln2)),                                 ln2 = rmsnorm(x2)
// Gemma: x2 = x + rmsnorm(o_proj(attn)); out = x2 + rmsnorm(down_proj(gelu_tanh(gate)·up)) (post-norms before
// the residual adds), scaled and soft-capped attention scores.
// Every projection is a frozen linear plus, when an adapter is active, scale · (inp·Aᵀ)·Bᵀ.
// T tokens, D model dim, H heads, Hk kv heads, Dh head dim, Q = H·Dh, KV = Hk·Dh, F ffn dim, R lora rank.

import Kernels

/// How a layer's attention sees its keys.
enum AttentionMode {
    /// Causal attention inside each span of the packed stream (plus the span's prefix).
    case packed([Attention.Span])
    /// Keys and values also go to a KV cache (L-major rows of KV floats) at rows start..<start+T. With
    /// start == 0 the T tokens form one causal segment (prefill); otherwise T must be 1 (a decode step).
    /// `layerStride` floats separate consecutive layers' caches.
    case cached(
        k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, layerStride: Int, start: Int,
        scratch: UnsafeMutablePointer<Float>)
}

/// What a pass applies on top of the frozen base.
struct AdapterPlan {
    let adapter: LoRAAdapter
    let dropout: LoRADropout?
}

extension LlamaModel {
    // MARK: - Layer forward

    /// Runs layer `l` on `t` rows of `input` (T, D). Writes `output` (T, D; may alias `input`); with a nil
    /// `output` (the backward's recompute) the down projection is skipped, only its LoRA intermediate made.
    func layerForward(
        _ l: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>?, count t: Int,
        mode: AttentionMode, plan: AdapterPlan?, ws: Workspace
    ) {
        let w = layers[l], c = config
        let d = c.hiddenSize, f = c.intermediateSize, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads
        let dh = c.headDim, kvd = kvHeads * dh
        let eps = Float(c.rmsNormEps)
        let attnScale = c.attentionScale, softcap = c.attnLogitSoftcapping.map { Float($0) }

        // ln1 = rmsnorm(x)
        RMSNorm.forward(out: ws.ln1, rstd: ws.rstd1, inp: input, weight: w.inputNorm, rows: t, dim: d, eps: eps)
        // q, k, v = ln1·Wᵀ (+ bias) (+ LoRA); qRaw/kRaw alias q/k unless there is a q/k norm
        project(l, .q, w.q, out: ws.qRaw, inp: ws.ln1, count: t, accumulate: false, plan: plan, ws: ws)
        project(l, .k, w.k, out: ws.kRaw, inp: ws.ln1, count: t, accumulate: false, plan: plan, ws: ws)
        project(l, .v, w.v, out: ws.v, inp: ws.ln1, count: t, accumulate: false, plan: plan, ws: ws)
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            // q = q_norm(q.view(T, H, Dh)), k = k_norm(k.view(T, Hk, Dh))
            RMSNorm.forward(out: ws.q, rstd: ws.qRstd, inp: ws.qRaw, weight: qNorm, rows: t * heads, dim: dh, eps: eps)
            RMSNorm.forward(out: ws.k, rstd: ws.kRstd, inp: ws.kRaw, weight: kNorm, rows: t * kvHeads, dim: dh, eps: eps)
        }
        let rope = ropeTable(l)
        RoPE.forward(x: ws.q, positions: ws.positions, count: t, heads: heads, headDim: dh, table: rope)
        RoPE.forward(x: ws.k, positions: ws.positions, count: t, heads: kvHeads, headDim: dh, table: rope)

        // att = softmax(q·kᵀ/√Dh + causal (+ sliding window))·v
        let window = c.attentionWindow(layer: l)
        switch mode {
        case .packed(let spans):
            Attention.forward(
                out: ws.att, lse: ws.lse, q: ws.q, k: ws.k, v: ws.v, spans: spans, heads: heads, kvHeads: kvHeads,
                headDim: dh, window: window, scratch: ws.attnScratch, scale: attnScale, softcap: softcap)
        case .cached(let kc, let vc, let stride, let start, let scratch):
            let kl = kc + l * stride, vl = vc + l * stride
            (kl + start * kvd).update(from: ws.k, count: t * kvd)
            (vl + start * kvd).update(from: ws.v, count: t * kvd)
            if start == 0 {
                Attention.forward(
                    out: ws.att, lse: ws.lse, q: ws.q, k: ws.k, v: ws.v, segments: [0..<t], heads: heads, kvHeads: kvHeads,
                    headDim: dh, window: window, scratch: ws.attnScratch, scale: attnScale, softcap: softcap)
            } else {
                precondition(t == 1, "a cached step past the prompt takes one token")
                Attention.decode(
                    out: ws.att, q: ws.q, kCache: kl, vCache: vl, length: start + 1, heads: heads, kvHeads: kvHeads,
                    headDim: dh, window: window, scratch: scratch, scale: attnScale, softcap: softcap)
            }
        }

        if let attnOutNorm = w.attnOutNorm {
            // Gemma: x2 = x + rmsnorm(att·Woᵀ (+ LoRA))
            project(l, .o, w.o, out: ws.attnOut, inp: ws.att, count: t, accumulate: false, plan: plan, ws: ws)
            RMSNorm.forward(out: ws.x2, rstd: ws.rstdA, inp: ws.attnOut, weight: attnOutNorm, rows: t, dim: d, eps: eps)
            axpy(ws.x2, input, count: t * d)
        } else {
            // x2 = x + att·Woᵀ (+ LoRA)
            ws.x2.update(from: input, count: t * d)
            project(l, .o, w.o, out: ws.x2, inp: ws.att, count: t, accumulate: true, plan: plan, ws: ws)
        }

        // ln2 = rmsnorm(x2); h = silu(ln2·Wgᵀ) · (ln2·Wuᵀ)
        RMSNorm.forward(out: ws.ln2, rstd: ws.rstd2, inp: ws.x2, weight: w.postNorm, rows: t, dim: d, eps: eps)
        project(l, .gate, w.gate, out: ws.gate, inp: ws.ln2, count: t, accumulate: false, plan: plan, ws: ws)
        project(l, .up, w.up, out: ws.up, inp: ws.ln2, count: t, accumulate: false, plan: plan, ws: ws)
        gatedActivation(count: t * f, ws: ws)

        if let mlpOutNorm = w.mlpOutNorm {
            // Gemma: out = x2 + rmsnorm(h·Wdᵀ (+ LoRA)); the recompute needs the MLP output and its rstd too
            project(l, .down, w.down, out: ws.mlpOut, inp: ws.h, count: t, accumulate: false, plan: plan, ws: ws)
            RMSNorm.forward(out: ws.normed, rstd: ws.rstdM, inp: ws.mlpOut, weight: mlpOutNorm, rows: t, dim: d, eps: eps)
            if let output {
                output.update(from: ws.x2, count: t * d)
                axpy(output, ws.normed, count: t * d)
            }
        } else if let output {
            // out = x2 + h·Wdᵀ (+ LoRA)
            output.update(from: ws.x2, count: t * d)
            project(l, .down, w.down, out: output, inp: ws.h, count: t, accumulate: true, plan: plan, ws: ws)
        } else if let plan {
            // recompute: only tmp = h·Aᵀ, which the backward needs
            loraTmp(l, .down, inp: ws.h, count: t, plan: plan, ws: ws)
        }
    }

    /// h = act(gate) · up: GeGLU (gelu_tanh) for Gemma, SwiGLU (silu) otherwise.
    func gatedActivation(count n: Int, ws: Workspace) {
        if config.isGemma {
            GeGLU.forward(out: ws.h, gate: ws.gate, up: ws.up, count: n)
        } else {
            SwiGLU.forward(out: ws.h, gate: ws.gate, up: ws.up, count: n)
        }
    }

    /// The backward of `gatedActivation`: dgate and dup from dh, the saved gate and up.
    func gatedActivationBackward(
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>, count n: Int, ws: Workspace
    ) {
        if config.isGemma {
            GeGLU.backward(dgate: dgate, dup: dup, dout: dh, gate: ws.gate, up: ws.up, count: n)
        } else {
            SwiGLU.backward(dgate: dgate, dup: dup, dout: dh, gate: ws.gate, up: ws.up, count: n)
        }
    }

    /// Layer `l`'s intermediates that a kept slot does not hold (`LayerActivations.Field.recomputed`),
    /// made again from those it does, as `layerForward` made them: norms, RoPE and the gated activation,
    /// no product.
    func layerRestore(_ l: Int, input: UnsafePointer<Float>, count t: Int, ws: Workspace) {
        let w = layers[l], c = config
        let d = c.hiddenSize, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads, dh = c.headDim
        let eps = Float(c.rmsNormEps)
        // ln1 = rmsnorm(x)
        RMSNorm.forward(out: ws.ln1, rstd: ws.rstd1, inp: input, weight: w.inputNorm, rows: t, dim: d, eps: eps)
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            // q = rope(q_norm(qRaw)), k = rope(k_norm(kRaw))
            let rope = ropeTable(l)
            RMSNorm.forward(out: ws.q, rstd: ws.qRstd, inp: ws.qRaw, weight: qNorm, rows: t * heads, dim: dh, eps: eps)
            RMSNorm.forward(out: ws.k, rstd: ws.kRstd, inp: ws.kRaw, weight: kNorm, rows: t * kvHeads, dim: dh, eps: eps)
            RoPE.forward(x: ws.q, positions: ws.positions, count: t, heads: heads, headDim: dh, table: rope)
            RoPE.forward(x: ws.k, positions: ws.positions, count: t, heads: kvHeads, headDim: dh, table: rope)
        }
        if let attnOutNorm = w.attnOutNorm {
            // Gemma: rstdA of rmsnorm(attnOut) (its output went into x2, which the slot holds)
            RMSNorm.forward(out: ws.normed, rstd: ws.rstdA, inp: ws.attnOut, weight: attnOutNorm, rows: t, dim: d, eps: eps)
        }
        // ln2 = rmsnorm(x2); h = act(gate) · up
        RMSNorm.forward(out: ws.ln2, rstd: ws.rstd2, inp: ws.x2, weight: w.postNorm, rows: t, dim: d, eps: eps)
        gatedActivation(count: t * c.intermediateSize, ws: ws)
        if let mlpOutNorm = w.mlpOutNorm {
            // Gemma: rstdM of rmsnorm(mlpOut)
            RMSNorm.forward(out: ws.normed, rstd: ws.rstdM, inp: ws.mlpOut, weight: mlpOutNorm, rows: t, dim: d, eps: eps)
        }
    }

    /// tmp(target) = drop(inp)·Aᵀ alone (the LoRA intermediate the backward needs), when `target` is adapted.
    func loraTmp(_ l: Int, _ target: LoRATarget, inp: UnsafePointer<Float>, count t: Int, plan: AdapterPlan, ws: Workspace) {
        guard let e = plan.adapter.entry(layer: l, target: target) else { return }
        let src = loraInput(l, e.moduleTarget, inp: inp, count: t, inFeatures: e.inFeatures, plan: plan, ws: ws)
        BLAS.parallelSgemm(
            transA: false, transB: true, m: t, n: plan.adapter.rank, k: e.inFeatures, alpha: 1, a: src, lda: e.inFeatures,
            b: plan.adapter.a(e), ldb: e.inFeatures, beta: 0, c: ws.tmp(target), ldc: plan.adapter.rank)
    }

    /// y += x over `count` floats.
    func axpy(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
        Parallel.forChunks(count: n, minChunk: 16_384) { range, _ in
            for i in range { y[i] += x[i] }
        }
    }

    // MARK: - Projections

    /// out (=, or += with `accumulate`) inp·Wᵀ + bias, plus scale·(drop(inp)·Aᵀ)·Bᵀ when adapted.
    func project(
        _ l: Int, _ target: LoRATarget, _ linear: FrozenLinear, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        count t: Int, accumulate: Bool, plan: AdapterPlan?, ws: Workspace
    ) {
        linear.forward(out: out, inp: inp, rows: t, scratch: ws.linearScratch, accumulate: accumulate, bf16: ws.bf16)
        guard let plan, let e = plan.adapter.entry(layer: l, target: target) else { return }
        let src = loraInput(l, e.moduleTarget, inp: inp, count: t, inFeatures: e.inFeatures, plan: plan, ws: ws)
        LoRA.forward(
            out: out, tmp: ws.tmp(target), inp: src, a: plan.adapter.a(e), b: plan.adapter.b(e), scale: plan.adapter.scale,
            m: t, k: e.inFeatures, n: e.outFeatures, r: plan.adapter.rank)
    }

    /// The adapter's input: `inp` itself, or its dropped copy in `ws.drop` when training with dropout (the mask
    /// of `target`, the module's first target: a fused Phi-3 module drops its one input once, as PEFT).
    func loraInput(
        _ l: Int, _ target: LoRATarget, inp: UnsafePointer<Float>, count t: Int, inFeatures: Int, plan: AdapterPlan,
        ws: Workspace
    ) -> UnsafePointer<Float> {
        guard let dropout = plan.dropout, let drop = ws.drop else { return inp }
        dropout.apply(out: drop, inp: inp, count: t * inFeatures, layer: l, target: target)
        return UnsafePointer(drop)
    }
}
