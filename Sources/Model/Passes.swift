// The model's passes over a packed batch: completion log-probs (inference and the adapters-off reference),
// logits at chosen rows, and the training pass — a forward that keeps each layer's input as its
// checkpoint (and, as memory allows, the layer's activations in a kept slot), the caller's loss gradient,
// then a backward that recomputes each layer without a slot (most recent first) and accumulates the LoRA
// gradients. The final norm and LM head run only at the scored rows, given
// either as completion ranges per sequence or as explicit (row, target) lists (`ScoredTokens`).
// T tokens, P scored tokens, D model dim, V vocab, L layers.

import Kernels

// MARK: - Results

/// Log-probabilities of the scored (completion) tokens of every sequence (or scoring group) in a batch.
public struct SequenceLogProbs: Sendable, Equatable {
    /// Per sequence (group): Σ log p over its completion tokens (TRL's summed logps).
    public var sums: [Float]
    /// Every scored token's log p, sequence after sequence.
    public var tokenLogProbs: [Float]
    /// Sequence i's tokens are tokenLogProbs[tokenOffsets[i]..<tokenOffsets[i+1]] (count = sequences + 1).
    public var tokenOffsets: [Int]
    /// Per sequence (group): Σ over its scored tokens of the mean logit over the vocabulary (TRL's logits/*
    /// metric is this divided by the token count).
    public var meanLogitSums: [Float]
    /// Per scored token, from the same pass over the vocabulary: the entropy of the next-token
    /// distribution, log Σ p² (WPO's weights) and whether the target is the first argmax (TRL's `is_top1`).
    public var tokenEntropies: [Float] = []
    public var tokenLogSumSquares: [Float] = []
    public var tokenIsTop1: [Bool] = []
    /// Per scored token, KL(policy ‖ reference) of the next-token distributions, when the pass was given
    /// the reference's head inputs (`referenceHeadInputs`); empty otherwise.
    public var tokenKL: [Float] = []

    public var sequenceCount: Int { sums.count }
    public func tokenCount(_ i: Int) -> Int { tokenOffsets[i + 1] - tokenOffsets[i] }
    public func tokens(_ i: Int) -> ArraySlice<Float> { tokenLogProbs[tokenOffsets[i]..<tokenOffsets[i + 1]] }
}

extension LlamaModel {
    // MARK: - Public passes

    /// Log-probabilities of each sequence's completion tokens. `completionRanges[i]` are token indices
    /// [start, end) inside sequence i (a continuation's sequence includes its prefix); token t is scored by
    /// the logits at t−1 (as TRL), so start ≥ 1. A nil or disabled adapter gives the base model (the DPO
    /// reference).
    public func sequenceLogProbs(
        batch: PackedBatch, completionRanges: [Range<Int>], adapter: LoRAAdapter? = nil, referenceHidden: [Float]? = nil
    ) throws -> SequenceLogProbs {
        try sequenceLogProbs(
            batch: batch, scoring: batch.scoring(completionRanges: completionRanges), adapter: adapter, referenceHidden: referenceHidden)
    }

    /// Log-probabilities of the tokens `scoring` lists, per group. `referenceHidden` (from
    /// `referenceHeadInputs` on the same batch and scoring) adds the per-token KL to the reference.
    public func sequenceLogProbs(batch: PackedBatch, scoring: ScoredTokens, adapter: LoRAAdapter? = nil, referenceHidden: [Float]? = nil)
        throws -> SequenceLogProbs
    {
        try withSwitches {
            precondition(!busy, "the model is inside forwardBackward's loss callback")
            let active = try activeAdapter(adapter)
            let ws = try prepare(batch, scoring, rank: active?.rank ?? 0, training: false, dropout: false)
            let plan = active.map { AdapterPlan(adapter: $0, dropout: nil) }
            let t = batch.tokenCount
            embed(out: ws.x, tokens: ws.tokenIds, count: t)
            let mode = AttentionMode.packed(spans(batch))
            for l in 0..<layers.count {
                layerForward(l, input: ws.x, output: ws.x, count: t, mode: mode, plan: plan, ws: ws)
                releasePages(layer: l)
            }
            headForward(final: ws.x, rows: scoring.count, referenceHidden: referenceHidden, ws: ws)
            releasePages(layer: nil)
            return collect(scoring, kl: referenceHidden != nil, ws: ws)
        }
    }

    /// The LM head's inputs (final-normed hidden states) at the scored rows of the reference model — the base
    /// with the adapters off, or base + `adapter` (a frozen one) — for the KL estimate: (P, D), row-major, in
    /// `scoring` order.
    public func referenceHeadInputs(batch: PackedBatch, completionRanges: [Range<Int>], adapter: LoRAAdapter? = nil) throws -> [Float] {
        try withSwitches { try referenceHeadInputsUnswitched(batch: batch, completionRanges: completionRanges, adapter: adapter) }
    }

    private func referenceHeadInputsUnswitched(batch: PackedBatch, completionRanges: [Range<Int>], adapter: LoRAAdapter?) throws -> [Float] {
        precondition(!busy, "the model is inside forwardBackward's loss callback")
        let scoring = try batch.scoring(completionRanges: completionRanges)
        let active = try activeAdapter(adapter)
        let ws = try prepare(batch, scoring, rank: active?.rank ?? 0, training: false, dropout: false)
        let plan = active.map { AdapterPlan(adapter: $0, dropout: nil) }
        let t = batch.tokenCount, d = config.hiddenSize, p = scoring.count
        embed(out: ws.x, tokens: ws.tokenIds, count: t)
        let mode = AttentionMode.packed(spans(batch))
        for l in 0..<layers.count {
            layerForward(l, input: ws.x, output: ws.x, count: t, mode: mode, plan: plan, ws: ws)
            releasePages(layer: l)
        }
        for i in 0..<p { (ws.hsel + i * d).update(from: ws.x + Int(ws.rowIndex[i]) * d, count: d) }
        RMSNorm.forward(out: ws.hn, rstd: ws.rstdF, inp: ws.hsel, weight: finalNorm, rows: p, dim: d, eps: Float(config.rmsNormEps))
        return Array(UnsafeBufferPointer(start: ws.hn, count: p * d))
    }

    /// Full-vocabulary logits at stream rows `rows` of the batch: (rows.count, V), row-major.
    public func logits(batch: PackedBatch, rows: [Int], adapter: LoRAAdapter? = nil) throws -> [Float] {
        try withSwitches {
            precondition(!busy, "the model is inside forwardBackward's loss callback")
            try validate(batch)
            for r in rows where r < 0 || r >= batch.tokenCount { throw ModelError.badRow(row: r, tokens: batch.tokenCount) }
            let active = try activeAdapter(adapter)
            let t = batch.tokenCount, n = rows.count, d = config.hiddenSize, v = config.vocabSize
            let ws = workspace(
                for: WorkspaceSize(tokens: t, rows: n, rank: active?.rank ?? 0, training: false, dropout: false, threads: Parallel.threads))
            load(batch, ws: ws)
            let plan = active.map { AdapterPlan(adapter: $0, dropout: nil) }
            embed(out: ws.x, tokens: ws.tokenIds, count: t)
            let mode = AttentionMode.packed(spans(batch))
            for l in 0..<layers.count {
                layerForward(l, input: ws.x, output: ws.x, count: t, mode: mode, plan: plan, ws: ws)
                releasePages(layer: l)
            }
            defer { releasePages(layer: nil) }
            for (i, r) in rows.enumerated() { (ws.hsel + i * d).update(from: ws.x + r * d, count: d) }
            RMSNorm.forward(out: ws.hn, rstd: ws.rstdF, inp: ws.hsel, weight: finalNorm, rows: n, dim: d, eps: Float(config.rmsNormEps))
            var out = [Float](repeating: 0, count: n * v)
            out.withUnsafeMutableBufferPointer {
                TokenLogProbs.logits(
                    out: $0.baseAddress!, hidden: ws.hn, weight: lmHead, rows: n, scratch: ws.headScratch.baseAddress, softcap: logitSoftcap)
            }
            return out
        }
    }

    /// The training pass. Runs the forward with `adapter` (LoRA dropout seeded by `dropoutSeed` when the
    /// config has dropout), hands the completion log-probs to `lossGradient`, which returns d loss / d each
    /// entry of `tokenLogProbs` (same layout), then backpropagates: LoRA gradients are ADDED to
    /// `adapter.gradients` (zero them between steps). Each layer's input is kept; so are the layer's
    /// activations, for as many layers as `keptActivationBytes` holds (`keptLayers`), and the backward
    /// recomputes the other layers from their inputs. Same bits either way. `lossGradient` must not call
    /// the model.
    @discardableResult
    public func forwardBackward(
        batch: PackedBatch, completionRanges: [Range<Int>], adapter: LoRAAdapter, dropoutSeed: UInt64 = 0,
        referenceHidden: [Float]? = nil, lossGradient: (SequenceLogProbs) throws -> [Float]
    ) throws -> SequenceLogProbs {
        try forwardBackward(
            batch: batch, scoring: batch.scoring(completionRanges: completionRanges), adapter: adapter, dropoutSeed: dropoutSeed,
            referenceHidden: referenceHidden, lossGradient: lossGradient)
    }

    /// The training pass over the tokens `scoring` lists (see the completion-range version).
    @discardableResult
    public func forwardBackward(
        batch: PackedBatch, scoring: ScoredTokens, adapter: LoRAAdapter, dropoutSeed: UInt64 = 0, referenceHidden: [Float]? = nil,
        lossGradient: (SequenceLogProbs) throws -> [Float]
    ) throws -> SequenceLogProbs {
        try withSwitches {
            precondition(!busy, "forwardBackward called from inside its own loss callback")
            guard let adapter = try activeAdapter(adapter) else {
                throw ModelError.unsupported(what: "forwardBackward needs an enabled LoRA adapter (it trains only LoRA parameters)")
            }
            let p = adapter.config.dropout
            let dropout = p > 0 ? LoRADropout(seed: dropoutSeed, p: Float(p)) : nil
            let ws = try prepare(batch, scoring, rank: adapter.rank, training: true, dropout: dropout != nil)
            let rows = scoring.count
            let plan = AdapterPlan(adapter: adapter, dropout: dropout)
            let t = batch.tokenCount, d = config.hiddenSize, nl = layers.count
            let ckpt = ws.checkpoints!  // (L+1, T, D), layer l's input at l·T·D
            let layerSize = t * d
            let spans = spans(batch)
            // Layers firstKept..<L−1 keep their activations in a slot each, as many as the store holds; the
            // last layer's stay in the shared buffers; the backward recomputes the rest from their inputs.
            let firstKept = nl - 1 - min(nl - 1, ws.keptSlots(tokens: t))
            func slot(_ l: Int) -> Int? { l >= firstKept && l < nl - 1 ? l - firstKept : nil }
            keptLayers = nl - 1 - firstKept

            // ---- forward, keeping each layer's input (and the kept layers' activations)
            embed(out: ckpt, tokens: ws.tokenIds, count: t)
            for l in 0..<nl {
                ws.bind(slot: slot(l), tokens: t)
                layerForward(
                    l, input: ckpt + l * layerSize, output: ckpt + (l + 1) * layerSize, count: t, mode: .packed(spans), plan: plan,
                    ws: ws)
                if l != nl - 1 { releasePages(layer: l) }  // the backward starts with the last layer
            }
            headForward(final: ckpt + nl * layerSize, rows: rows, expected: ws.expected, referenceHidden: referenceHidden, ws: ws)
            releasePages(layer: nil)  // the head's backward reads only the target rows
            let result = collect(scoring, kl: referenceHidden != nil, ws: ws)

            // ---- the caller's loss
            busy = true
            let dlogps: [Float]
            do {
                defer { busy = false }
                dlogps = try lossGradient(result)
            }
            guard dlogps.count == rows else { throw ModelError.gradientCount(got: dlogps.count, expected: rows) }

            // ---- backward through the head at the scored rows
            dlogps.withUnsafeBufferPointer { ws.dlogps!.update(from: $0.baseAddress!, count: rows) }
            // logps = log_softmax(hn·Wᵀ)[target]: dhn = dlogps·(W[target] − E_p[W]), E_p[W] kept by the forward
            TokenLogProbs.backward(
                dhidden: ws.dhn!, dlogps: ws.dlogps!, expected: ws.expected!, targets: ws.targets, weight: lmHead, rows: rows,
                rowScratch: ws.headScratch.baseAddress!, targetSlope: logitSoftcap == nil ? nil : ws.targetSlope)
            // hn = rmsnorm(hsel)
            RMSNorm.backward(
                dinp: ws.dhsel!, dweight: nil, dout: ws.dhn!, inp: ws.hsel, weight: finalNorm, rstd: ws.rstdF, rows: rows, dim: d)
            // hsel = final[rowIndex]: scatter into the residual gradient
            let dres = ws.dres!
            dres.update(repeating: 0, count: layerSize)
            for i in 0..<rows {
                let dst = dres + Int(ws.rowIndex[i]) * d, src = ws.dhsel! + i * d
                for j in 0..<d { dst[j] += src[j] }
            }

            // ---- backward through the layers, most recent first
            for l in stride(from: nl - 1, through: 0, by: -1) {
                let input = ckpt + l * layerSize
                // The last layer's intermediates are still in the shared buffers from the forward.
                if l != nl - 1 {
                    ws.bind(slot: slot(l), tokens: t)
                    if slot(l) != nil {
                        layerRestore(l, input: input, count: t, ws: ws)
                    } else {
                        layerForward(l, input: input, output: nil, count: t, mode: .packed(spans), plan: plan, ws: ws)
                    }
                }
                layerBackward(l, input: input, count: t, spans: spans, plan: plan, needInputGradient: l > 0, ws: ws)
                releasePages(layer: l)
            }
            ws.bind(slot: nil, tokens: t)
            return result
        }
    }

    // MARK: - Shared steps

    /// Validates the batch and the scoring, picks the arena and loads tokens, positions, scored rows and targets.
    func prepare(_ batch: PackedBatch, _ scoring: ScoredTokens, rank: Int, training: Bool, dropout: Bool) throws -> Workspace {
        try validate(batch)
        try validate(scoring, tokens: batch.tokenCount)
        let p = scoring.count
        let ws = workspace(
            for: WorkspaceSize(
                tokens: batch.tokenCount, rows: p, rank: rank, training: training, dropout: dropout, threads: Parallel.threads,
                keptFloats: training ? keptFloats(tokens: batch.tokenCount, rank: rank) : 0))
        load(batch, ws: ws)
        scoring.rows.withUnsafeBufferPointer { ws.rowIndex.update(from: $0.baseAddress!, count: p) }
        scoring.targets.withUnsafeBufferPointer { ws.targets.update(from: $0.baseAddress!, count: p) }
        return ws
    }

    /// Unmaps layer `layer`'s weight pages (nil: the embedding and LM head) unless a benchmark switched it off.
    func releasePages(layer: Int?) {
        guard switches.releasesWeightPages else { return }
        if let layer { pages.release(layer: layer) } else { pages.releaseHead() }
    }

    /// The attention spans of a batch: each segment's rows, seeing its prefix.
    func spans(_ batch: PackedBatch) -> [Attention.Span] {
        batch.segments.map { Attention.Span($0.range, prefix: $0.prefix) }
    }

    /// Copies token ids and positions into the arena and sizes the RoPE table.
    func load(_ batch: PackedBatch, ws: Workspace) {
        batch.tokens.withUnsafeBufferPointer { ws.tokenIds.update(from: $0.baseAddress!, count: batch.tokenCount) }
        batch.positions.withUnsafeBufferPointer { ws.positions.update(from: $0.baseAddress!, count: batch.tokenCount) }
        ensureRope(Int(batch.positions.max() ?? 0) + 1)
    }

    /// hsel = final[rowIndex]; hn = rmsnorm(hsel); logps, lse, mean logits (and E_p[W] for the backward
    /// when `expected` is given) = TokenLogProbs(hn).
    /// With `referenceHidden` (P, D) also the per-token KL to the reference, in scratch allocated for the call.
    func headForward(
        final: UnsafePointer<Float>, rows p: Int, expected: UnsafeMutablePointer<Float>? = nil, referenceHidden: [Float]? = nil,
        ws: Workspace
    ) {
        let d = config.hiddenSize
        for i in 0..<p { (ws.hsel + i * d).update(from: final + Int(ws.rowIndex[i]) * d, count: d) }
        RMSNorm.forward(out: ws.hn, rstd: ws.rstdF, inp: ws.hsel, weight: finalNorm, rows: p, dim: d, eps: Float(config.rmsNormEps))
        if let referenceHidden {
            precondition(referenceHidden.count == p * d, "referenceHidden holds \(referenceHidden.count) floats, not \(p) rows × \(d)")
            var refScratch = [Float](repeating: 0, count: TokenLogProbs.referenceScratchFloats(rows: p, vocab: lmHead.rows))
            referenceHidden.withUnsafeBufferPointer { rh in
                refScratch.withUnsafeMutableBufferPointer { rs in
                    TokenLogProbs.forward(
                        logps: ws.logps, lse: ws.lseF, logitMeans: ws.means, entropy: ws.entropies, logSumSquares: ws.logSumSquares,
                        argmax: ws.argmax, kl: ws.kl, referenceHidden: rh.baseAddress!, referenceScratch: rs.baseAddress!, expected: expected,
                        hidden: ws.hn, targets: ws.targets, weight: lmHead, rows: p, scratch: ws.headScratch, softcap: logitSoftcap,
                        targetSlope: ws.targetSlope)
                }
            }
            return
        }
        TokenLogProbs.forward(
            logps: ws.logps, lse: ws.lseF, logitMeans: ws.means, entropy: ws.entropies, logSumSquares: ws.logSumSquares,
            argmax: ws.argmax, expected: expected, hidden: ws.hn, targets: ws.targets, weight: lmHead, rows: p,
            scratch: ws.headScratch, softcap: logitSoftcap, targetSlope: ws.targetSlope)
    }

    /// Gathers the head's outputs into per-group results (sums in Double, stored as Float).
    func collect(_ scoring: ScoredTokens, kl: Bool = false, ws: Workspace) -> SequenceLogProbs {
        var sums: [Float] = [], means: [Float] = []
        let tokens = Array(UnsafeBufferPointer(start: ws.logps, count: scoring.count))
        for g in 0..<scoring.groupCount {
            var s = 0.0, m = 0.0
            for i in scoring.offsets[g]..<scoring.offsets[g + 1] {
                s += Double(ws.logps[i])
                m += Double(ws.means[i])
            }
            sums.append(Float(s))
            means.append(Float(m))
        }
        var result = SequenceLogProbs(sums: sums, tokenLogProbs: tokens, tokenOffsets: scoring.offsets, meanLogitSums: means)
        result.tokenEntropies = Array(UnsafeBufferPointer(start: ws.entropies, count: scoring.count))
        result.tokenLogSumSquares = Array(UnsafeBufferPointer(start: ws.logSumSquares, count: scoring.count))
        result.tokenIsTop1 = (0..<scoring.count).map { ws.argmax[$0] == ws.targets[$0] }
        if kl { result.tokenKL = Array(UnsafeBufferPointer(start: ws.kl, count: scoring.count)) }
        return result
    }
}
