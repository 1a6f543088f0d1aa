// One decoder layer backward, run right after the layer's forward was recomputed from its checkpoint, or
// its kept slot bound and restored (LayerForward's `layerRestore`).
// Frozen matrices pass only the input gradient (FrozenLinear.backwardInput); LoRA A/B gradients
// accumulate (+=) into the adapter's flat gradient block. The residual gradient `dres` is updated in place:
// on entry d loss/d out, on exit d loss/d x (when the input gradient is wanted).
// T tokens, D model dim, H heads, Hk kv heads, Dh head dim, Q = H·Dh, KV = Hk·Dh, F ffn dim, R lora rank.

import Kernels

extension LlamaModel {
    // MARK: - Layer backward

    func layerBackward(
        _ l: Int, input: UnsafePointer<Float>, count t: Int, spans: [Attention.Span], plan: AdapterPlan,
        needInputGradient: Bool, ws: Workspace
    ) {
        let w = layers[l], c = config
        let d = c.hiddenSize, f = c.intermediateSize, heads = c.numAttentionHeads, kvHeads = c.numKeyValueHeads
        let dh = c.headDim
        let dres = ws.dres!, dln = ws.dln!, datt = ws.datt!, dq = ws.dq!, dk = ws.dk!, dv = ws.dv!
        let dgate = ws.dgate!, dup = ws.dup!, dh_ = ws.dh!

        // ---- MLP: out = x2 + h·Wdᵀ (+ LoRA)
        var dmlp = UnsafePointer(dres)
        if let mlpOutNorm = w.mlpOutNorm {
            // Gemma: out = x2 + rmsnorm(m), m = h·Wdᵀ (+ LoRA): dm = rmsnorm'(dout), in dln until the gate needs it
            RMSNorm.backward(dinp: dln, dweight: nil, dout: dres, inp: ws.mlpOut, weight: mlpOutNorm, rstd: ws.rstdM, rows: t, dim: d)
            dmlp = UnsafePointer(dln)
        }
        // dh = dm·Wd
        w.down.backwardInput(dinp: dh_, dout: dmlp, rows: t, scratch: ws.linearScratch, bf16: ws.bf16)
        loraBackward(l, .down, dinp: dh_, dout: dmlp, inp: ws.h, count: t, plan: plan, ws: ws)
        // h = silu(gate)·up (Gemma: gelu_tanh(gate)·up)
        gatedActivationBackward(dgate: dgate, dup: dup, dh: dh_, count: t * f, ws: ws)
        // gate = ln2·Wgᵀ (+ LoRA), up = ln2·Wuᵀ (+ LoRA)
        w.gate.backwardInput(dinp: dln, dout: dgate, rows: t, scratch: ws.linearScratch, bf16: ws.bf16)
        w.up.backwardInput(dinp: dln, dout: dup, rows: t, scratch: ws.linearScratch, accumulate: true, bf16: ws.bf16)
        loraBackward(l, .gate, dinp: dln, dout: dgate, inp: ws.ln2, count: t, plan: plan, ws: ws)
        loraBackward(l, .up, dinp: dln, dout: dup, inp: ws.ln2, count: t, plan: plan, ws: ws)
        // ln2 = rmsnorm(x2): dx2 = dout + rmsnorm'(dln)
        RMSNorm.backward(
            dinp: dres, dweight: nil, dout: dln, inp: ws.x2, weight: w.postNorm, rstd: ws.rstd2, rows: t, dim: d,
            accumulate: true)

        // ---- Attention: x2 = x + att·Woᵀ (+ LoRA)
        var dattOut = UnsafePointer(dres)
        if let attnOutNorm = w.attnOutNorm {
            // Gemma: x2 = x + rmsnorm(a), a = att·Woᵀ (+ LoRA): da = rmsnorm'(dx2), in dln until q/k/v need it
            RMSNorm.backward(dinp: dln, dweight: nil, dout: dres, inp: ws.attnOut, weight: attnOutNorm, rstd: ws.rstdA, rows: t, dim: d)
            dattOut = UnsafePointer(dln)
        }
        w.o.backwardInput(dinp: datt, dout: dattOut, rows: t, scratch: ws.linearScratch, bf16: ws.bf16)
        loraBackward(l, .o, dinp: datt, dout: dattOut, inp: ws.att, count: t, plan: plan, ws: ws)
        // att = softmax(q·kᵀ/√Dh + causal (+ sliding window))·v
        Attention.backward(
            dq: dq, dk: dk, dv: dv, dout: datt, q: ws.q, k: ws.k, v: ws.v, out: ws.att, lse: ws.lse, spans: spans,
            heads: heads, kvHeads: kvHeads, headDim: dh, window: c.attentionWindow(layer: l), scratch: ws.attnScratch, scale: c.attentionScale,
            softcap: c.attnLogitSoftcapping.map { Float($0) })
        // q = rope(q), k = rope(k)
        let rope = ropeTable(l)
        RoPE.backward(dx: dq, positions: ws.positions, count: t, heads: heads, headDim: dh, table: rope)
        RoPE.backward(dx: dk, positions: ws.positions, count: t, heads: kvHeads, headDim: dh, table: rope)
        // q = q_norm(qRaw), k = k_norm(kRaw) (Qwen3); otherwise dqRaw/dkRaw alias dq/dk
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            RMSNorm.backward(
                dinp: ws.dqRaw!, dweight: nil, dout: dq, inp: ws.qRaw, weight: qNorm, rstd: ws.qRstd, rows: t * heads, dim: dh)
            RMSNorm.backward(
                dinp: ws.dkRaw!, dweight: nil, dout: dk, inp: ws.kRaw, weight: kNorm, rstd: ws.kRstd, rows: t * kvHeads, dim: dh)
        }
        // q, k, v = ln1·Wᵀ (+ bias) (+ LoRA)
        let dlnOut: UnsafeMutablePointer<Float>? = needInputGradient ? dln : nil
        if needInputGradient {
            w.q.backwardInput(dinp: dln, dout: ws.dqRaw!, rows: t, scratch: ws.linearScratch, bf16: ws.bf16)
            w.k.backwardInput(dinp: dln, dout: ws.dkRaw!, rows: t, scratch: ws.linearScratch, accumulate: true, bf16: ws.bf16)
            w.v.backwardInput(dinp: dln, dout: dv, rows: t, scratch: ws.linearScratch, accumulate: true, bf16: ws.bf16)
        }
        loraBackward(l, .q, dinp: dlnOut, dout: ws.dqRaw!, inp: ws.ln1, count: t, plan: plan, ws: ws)
        loraBackward(l, .k, dinp: dlnOut, dout: ws.dkRaw!, inp: ws.ln1, count: t, plan: plan, ws: ws)
        loraBackward(l, .v, dinp: dlnOut, dout: dv, inp: ws.ln1, count: t, plan: plan, ws: ws)
        // ln1 = rmsnorm(x): dx = dx2 + rmsnorm'(dln)
        if needInputGradient {
            RMSNorm.backward(
                dinp: dres, dweight: nil, dout: dln, inp: input, weight: w.inputNorm, rstd: ws.rstd1, rows: t, dim: d,
                accumulate: true)
        }
    }

    /// The adapter's share of a projection's backward: da, db += …; dinp += … (through the dropout mask).
    /// Differentiates `out += scale · (drop(inp)·Aᵀ)·Bᵀ`.
    func loraBackward(
        _ l: Int, _ target: LoRATarget, dinp: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>,
        inp: UnsafePointer<Float>, count t: Int, plan: AdapterPlan, ws: Workspace
    ) {
        let adapter = plan.adapter
        guard let e = adapter.entry(layer: l, target: target) else { return }
        let n = t * e.inFeatures
        if let dropout = plan.dropout, let drop = ws.drop, let ddrop = ws.ddrop {
            dropout.apply(out: drop, inp: inp, count: n, layer: l, target: e.moduleTarget)
            if dinp != nil { ddrop.update(repeating: 0, count: n) }
            LoRA.backward(
                dinp: dinp != nil ? ddrop : nil, da: adapter.da(e), db: adapter.db(e), dtmp: ws.dtmp!, dout: dout, inp: drop,
                a: adapter.a(e), b: adapter.b(e), tmp: ws.tmp(target), scale: adapter.scale, m: t, k: e.inFeatures,
                n: e.outFeatures, r: adapter.rank)
            if let dinp { dropout.accumulateBackward(dinp: dinp, dx: ddrop, count: n, layer: l, target: e.moduleTarget) }
        } else {
            LoRA.backward(
                dinp: dinp, da: adapter.da(e), db: adapter.db(e), dtmp: ws.dtmp!, dout: dout, inp: inp, a: adapter.a(e),
                b: adapter.b(e), tmp: ws.tmp(target), scale: adapter.scale, m: t, k: e.inFeatures, n: e.outFeatures,
                r: adapter.rank)
        }
    }
}
