// The activation arena: every buffer a forward, backward or decode step needs, carved out of ONE
// allocation sized for the largest batch seen so far. Layers reuse the same per-layer buffers (one
// `LayerActivations` record) unless a training pass binds a kept slot in their place; nothing is
// allocated per layer or per step (the arena only grows when a larger batch arrives).
// T tokens, P scored rows, D model dim, Q = H·Dh, KV = Hk·Dh, F ffn dim, R lora rank, L layers.

import Kernels
import TensorFile

/// What an arena must hold.
struct WorkspaceSize: Equatable {
    var tokens: Int  // T
    var rows: Int  // P
    var rank: Int  // R (0 without an adapter)
    var training: Bool  // checkpoints and gradient buffers
    var dropout: Bool  // dropped LoRA inputs
    var threads: Int  // attention workers
    var keptFloats = 0  // training: room for layers' activations kept from the forward (whole slots)
    var bf16 = false  // scratch for bf16 products (--compute-dtype bf16)

    func covers(_ o: WorkspaceSize) -> Bool {
        tokens >= o.tokens && rows >= o.rows && rank >= o.rank && (training || !o.training) && (dropout || !o.dropout)
            && threads >= o.threads && keptFloats >= o.keptFloats && (bf16 || !o.bf16)
    }

    func union(_ o: WorkspaceSize) -> WorkspaceSize {
        WorkspaceSize(
            tokens: max(tokens, o.tokens), rows: max(rows, o.rows), rank: max(rank, o.rank), training: training || o.training,
            dropout: dropout || o.dropout, threads: max(threads, o.threads), keptFloats: max(keptFloats, o.keptFloats),
            bf16: bf16 || o.bf16)
    }
}

@dynamicMemberLookup
final class Workspace {
    let size: WorkspaceSize
    private let config: ModelConfig
    private let block: UnsafeMutableBufferPointer<Float>
    private let targetBlock: UnsafeMutableBufferPointer<Int32>

    // MARK: Forward, per layer
    let x: UnsafeMutablePointer<Float>  // (T, D) residual stream of an inference pass
    /// The current layer's intermediates (`ws.q`, `ws.gate`, … read through it): the shared buffers
    /// every layer reuses, or a kept slot standing in for them (`bind`).
    private(set) var layer: LayerActivations
    /// The shared per-layer buffers, and where each field of theirs starts (by `Field.rawValue`).
    private let shared: LayerActivations
    private let sharedFields: [UnsafeMutablePointer<Float>]
    let drop: UnsafeMutablePointer<Float>?  // (T, maxIn) dropped LoRA input

    subscript(dynamicMember field: KeyPath<LayerActivations, UnsafeMutablePointer<Float>>) -> UnsafeMutablePointer<Float> {
        layer[keyPath: field]
    }

    // MARK: Head (P selected rows)
    let hsel: UnsafeMutablePointer<Float>  // (P, D) final hidden at scored rows
    let hn: UnsafeMutablePointer<Float>  // (P, D) after the final norm
    let rstdF: UnsafeMutablePointer<Float>  // (P)
    let logps: UnsafeMutablePointer<Float>  // (P)
    let lseF: UnsafeMutablePointer<Float>  // (P)
    let means: UnsafeMutablePointer<Float>  // (P)
    let entropies: UnsafeMutablePointer<Float>  // (P) −Σ p·log p of each scored row's distribution
    let logSumSquares: UnsafeMutablePointer<Float>  // (P) log Σ p² (WPO)
    let kl: UnsafeMutablePointer<Float>  // (P) KL(policy ‖ reference), when the reference's hidden states are given
    let targetSlope: UnsafeMutablePointer<Float>  // (P) soft-capped logits: 1 − tanh² at each target
    let argmax: UnsafeMutablePointer<Int32>  // (P) first index of each scored row's largest logit
    let targets: UnsafeMutablePointer<Int32>  // (P)
    let rowIndex: UnsafeMutablePointer<Int32>  // (P) stream row of each scored token's logits
    let tokenIds: UnsafeMutablePointer<Int32>  // (T)
    let positions: UnsafeMutablePointer<Int32>  // (T)

    // MARK: Scratch
    let linearScratch: UnsafeMutablePointer<Float>?  // (largest FrozenLinear block)
    let bf16Scratch: FrozenLinear.BF16Scratch?  // (T, maxIn) rounded inputs and the largest bf16 weight block
    /// Whether the current pass runs its products in bf16 (the model's compute dtype when the pass began);
    /// an arena made for bf16 keeps its scratch after the model goes back to f32.
    var usesBF16 = false
    /// The scratch the frozen products get: nil runs them in f32.
    var bf16: FrozenLinear.BF16Scratch? { usesBF16 ? bf16Scratch : nil }
    let attnScratch: UnsafeMutableBufferPointer<Float>
    let headScratch: UnsafeMutableBufferPointer<Float>

    // MARK: Training
    let checkpoints: UnsafeMutablePointer<Float>?  // (L+1, T, D) each layer's input, then the final output
    let dres: UnsafeMutablePointer<Float>?  // (T, D) gradient of the residual stream
    let dln: UnsafeMutablePointer<Float>?  // (T, D)
    let datt: UnsafeMutablePointer<Float>?  // (T, Q)
    let dq: UnsafeMutablePointer<Float>?  // (T, Q)
    let dk: UnsafeMutablePointer<Float>?  // (T, KV)
    let dv: UnsafeMutablePointer<Float>?  // (T, KV)
    let dqRaw: UnsafeMutablePointer<Float>?  // (T, Q)
    let dkRaw: UnsafeMutablePointer<Float>?  // (T, KV)
    let dgate: UnsafeMutablePointer<Float>?  // (T, F)
    let dup: UnsafeMutablePointer<Float>?  // (T, F)
    let dh: UnsafeMutablePointer<Float>?  // (T, F)
    let dtmp: UnsafeMutablePointer<Float>?  // (T, R)
    let ddrop: UnsafeMutablePointer<Float>?  // (T, maxIn)
    let dhn: UnsafeMutablePointer<Float>?  // (P, D)
    let dhsel: UnsafeMutablePointer<Float>?  // (P, D)
    let dlogps: UnsafeMutablePointer<Float>?  // (P)
    let expected: UnsafeMutablePointer<Float>?  // (P, D) E_p[W] per scored row, from the head's forward
    let kept: UnsafeMutablePointer<Float>?  // (keptFloats) kept slots, each one layer's `LayerActivations.slotFloats`

    /// Total floats held (for reports).
    var floatCount: Int { block.count }

    init(size: WorkspaceSize, config c: ModelConfig, layers: [LayerWeights], lmHead: WeightMatrix) {
        self.size = size
        self.config = c
        let t = max(1, size.tokens), p = max(1, size.rows), r = size.rank
        let d = c.hiddenSize, qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim, f = c.intermediateSize
        let maxIn = max(d, qd, f)
        let linear = layers.flatMap { l in LoRATarget.allCases.map { l.linear($0).scratchFloats } }.max() ?? 0
        // bf16 scratch is carved out of the same f32 block: two bf16 elements per float.
        let bf16Weights = size.bf16 ? layers.flatMap { l in LoRATarget.allCases.map { l.linear($0).bf16WeightScratch } }.max() ?? 0 : 0
        let attn = Attention.scratchFloats(maxSegmentLength: t, threads: size.threads)
        let head = max(
            TokenLogProbs.scratchFloats(
                rows: p, dim: d, vocab: lmHead.rows, dtype: lmHead.dtype, softcap: c.finalLogitSoftcapping != nil),
            TokenLogProbs.logitsScratchFloats(dim: d, vocab: lmHead.rows, dtype: lmHead.dtype), 1)

        // Offsets first, then one allocation.
        var sizes: [Int] = []
        func reserve(_ n: Int) -> Int {
            sizes.append(n)
            return sizes.count - 1
        }
        let layerIds = LayerActivations.Field.allCases.map { reserve($0.floats(tokens: t, config: c, rank: r)) }
        let ids = (
            x: reserve(t * d), drop: reserve(size.dropout ? t * maxIn : 0),
            hsel: reserve(p * d), hn: reserve(p * d), rstdF: reserve(p), logps: reserve(p), lseF: reserve(p), means: reserve(p),
            entropies: reserve(p), logSumSquares: reserve(p), kl: reserve(p), targetSlope: reserve(p),
            linear: reserve(linear), attn: reserve(attn), head: reserve(head),
            bf16Inputs: reserve(size.bf16 ? (t * maxIn + 1) / 2 : 0), bf16Weights: reserve((bf16Weights + 1) / 2)
        )
        let tr = size.training, qk = c.qkNorm
        let gids = (
            ckpt: reserve(tr ? (c.numHiddenLayers + 1) * t * d : 0), dres: reserve(tr ? t * d : 0), dln: reserve(tr ? t * d : 0),
            datt: reserve(tr ? t * qd : 0), dq: reserve(tr ? t * qd : 0), dk: reserve(tr ? t * kvd : 0), dv: reserve(tr ? t * kvd : 0),
            dqRaw: reserve(tr && qk ? t * qd : 0), dkRaw: reserve(tr && qk ? t * kvd : 0), dgate: reserve(tr ? t * f : 0),
            dup: reserve(tr ? t * f : 0), dh: reserve(tr ? t * f : 0), dtmp: reserve(tr ? t * max(r, 1) : 0),
            ddrop: reserve(tr && size.dropout ? t * maxIn : 0), dhn: reserve(tr ? p * d : 0), dhsel: reserve(tr ? p * d : 0),
            dlogps: reserve(tr ? p : 0), expected: reserve(tr ? p * d : 0), kept: reserve(tr ? size.keptFloats : 0)
        )
        var offsets: [Int] = []
        var total = 0
        for n in sizes {
            offsets.append(total)
            total += LayerActivations.aligned(n)
        }
        block = .allocate(capacity: max(total, 16))
        block.initialize(repeating: 0)
        targetBlock = .allocate(capacity: 3 * p + 2 * t)
        targetBlock.initialize(repeating: 0)
        let base = block.baseAddress!
        func at(_ i: Int) -> UnsafeMutablePointer<Float> { base + offsets[i] }
        func opt(_ i: Int) -> UnsafeMutablePointer<Float>? { sizes[i] > 0 ? base + offsets[i] : nil }

        let fields = layerIds.map(at)
        sharedFields = fields
        shared = LayerActivations(tokens: t, qkNorm: qk) { fields[$0.rawValue] }
        layer = shared
        x = at(ids.x); drop = opt(ids.drop)
        hsel = at(ids.hsel); hn = at(ids.hn); rstdF = at(ids.rstdF); logps = at(ids.logps); lseF = at(ids.lseF)
        means = at(ids.means); entropies = at(ids.entropies); logSumSquares = at(ids.logSumSquares); kl = at(ids.kl)
        targetSlope = at(ids.targetSlope)
        argmax = targetBlock.baseAddress! + 2 * p + 2 * t
        targets = targetBlock.baseAddress!
        rowIndex = targetBlock.baseAddress! + p
        tokenIds = targetBlock.baseAddress! + 2 * p
        positions = targetBlock.baseAddress! + 2 * p + t
        linearScratch = opt(ids.linear)
        bf16Scratch =
            size.bf16
            ? FrozenLinear.BF16Scratch(
                inputs: UnsafeMutableRawPointer(at(ids.bf16Inputs)).assumingMemoryBound(to: UInt16.self),
                weights: opt(ids.bf16Weights).map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt16.self) }) : nil
        attnScratch = UnsafeMutableBufferPointer(start: at(ids.attn), count: sizes[ids.attn])
        headScratch = UnsafeMutableBufferPointer(start: at(ids.head), count: sizes[ids.head])
        checkpoints = opt(gids.ckpt); dres = opt(gids.dres); dln = opt(gids.dln); datt = opt(gids.datt)
        dq = opt(gids.dq); dk = opt(gids.dk); dv = opt(gids.dv)
        dqRaw = qk ? opt(gids.dqRaw) : opt(gids.dq)
        dkRaw = qk ? opt(gids.dkRaw) : opt(gids.dk)
        dgate = opt(gids.dgate); dup = opt(gids.dup); dh = opt(gids.dh); dtmp = opt(gids.dtmp); ddrop = opt(gids.ddrop)
        dhn = opt(gids.dhn); dhsel = opt(gids.dhsel); dlogps = opt(gids.dlogps); expected = opt(gids.expected)
        kept = opt(gids.kept)
    }

    deinit {
        block.deallocate()
        targetBlock.deallocate()
    }

    // MARK: Kept slots

    /// Kept slots of `tokens` rows that fit the arena's store.
    func keptSlots(tokens t: Int) -> Int {
        kept == nil ? 0 : size.keptFloats / max(1, LayerActivations.slotFloats(tokens: t, config: config, rank: size.rank))
    }

    /// Makes kept slot `slot` (slots packed at `tokens` rows, the pass's T) the current layer's record:
    /// the fields a slot holds point into it, the recomputed ones at the shared buffers. nil: the shared
    /// buffers alone.
    func bind(slot: Int?, tokens t: Int) {
        guard let slot else {
            layer = shared
            return
        }
        precondition(slot >= 0 && slot < keptSlots(tokens: t), "kept slot \(slot) out of range")
        var next = kept! + slot * LayerActivations.slotFloats(tokens: t, config: config, rank: size.rank)
        var fields = sharedFields
        for f in LayerActivations.Field.allCases where !f.recomputed(qkNorm: config.qkNorm) {
            fields[f.rawValue] = next
            next += LayerActivations.aligned(f.floats(tokens: t, config: config, rank: size.rank))
        }
        layer = LayerActivations(tokens: t, qkNorm: config.qkNorm) { fields[$0.rawValue] }
    }

    /// The LoRA intermediate inp·Aᵀ of `target` for the current layer: (T, R).
    func tmp(_ target: LoRATarget) -> UnsafeMutablePointer<Float> {
        layer.loraTmp + target.index * layer.tmpRows * max(1, size.rank)
    }
}

// MARK: - One layer's intermediates

/// Every intermediate of one decoder layer that its backward reads, as buffer pointers: the arena's
/// shared per-layer buffers, or a kept slot that holds a layer's values from the training forward until
/// its backward. A new intermediate is a `Field` case (its size, whether a slot holds it), a property
/// and a line in `init`; kept slots and the shared buffers then both carry it.
struct LayerActivations {
    enum Field: Int, CaseIterable {
        case ln1, rstd1, qRaw, kRaw, qRstd, kRstd, q, k, v, att, lse, x2, ln2, rstd2, gate, up, h, loraTmp
        case attnOut, rstdA, mlpOut, rstdM, normed  // Gemma's post-norms

        /// Floats for `t` tokens (0 for a field the model does not have).
        func floats(tokens t: Int, config c: ModelConfig, rank r: Int) -> Int {
            let qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim, qk = c.qkNorm
            switch self {
            case .ln1, .x2, .ln2: return t * c.hiddenSize
            case .rstd1, .rstd2: return t
            case .qRaw: return qk ? t * qd : 0
            case .kRaw: return qk ? t * kvd : 0
            case .qRstd: return qk ? t * c.numAttentionHeads : 0
            case .kRstd: return qk ? t * c.numKeyValueHeads : 0
            case .q, .att: return t * qd
            case .k, .v: return t * kvd
            case .lse: return t * c.numAttentionHeads
            case .gate, .up, .h: return t * c.intermediateSize
            case .loraTmp: return LoRATarget.allCases.count * t * max(r, 1)
            case .attnOut, .mlpOut, .normed: return c.isGemma ? t * c.hiddenSize : 0
            case .rstdA, .rstdM: return c.isGemma ? t : 0
            }
        }

        /// Not held by a kept slot: a kept layer's backward makes it again (`layerRestore`) from what the
        /// slot holds, by a norm, RoPE or SwiGLU, no product. Products and attention are always kept.
        func recomputed(qkNorm: Bool) -> Bool {
            switch self {
            case .ln1, .rstd1, .ln2, .rstd2, .h, .qRstd, .kRstd, .rstdA, .rstdM, .normed: return true
            case .q, .k: return qkNorm  // from qRaw, kRaw by the q/k norm and RoPE
            default: return false
            }
        }
    }

    // T tokens, D model dim, H heads, Hk kv heads, Q = H·Dh, KV = Hk·Dh, F ffn dim, R lora rank.
    let ln1: UnsafeMutablePointer<Float>  // (T, D)
    let rstd1: UnsafeMutablePointer<Float>  // (T)
    let qRaw: UnsafeMutablePointer<Float>  // (T, Q) before the q norm (Qwen3); q itself otherwise
    let kRaw: UnsafeMutablePointer<Float>  // (T, KV); k itself without a k norm
    let qRstd: UnsafeMutablePointer<Float>  // (T·H)
    let kRstd: UnsafeMutablePointer<Float>  // (T·Hk)
    let q: UnsafeMutablePointer<Float>  // (T, Q) after norm and RoPE
    let k: UnsafeMutablePointer<Float>  // (T, KV)
    let v: UnsafeMutablePointer<Float>  // (T, KV)
    let att: UnsafeMutablePointer<Float>  // (T, Q)
    let lse: UnsafeMutablePointer<Float>  // (T, H)
    let x2: UnsafeMutablePointer<Float>  // (T, D) residual after attention
    let ln2: UnsafeMutablePointer<Float>  // (T, D)
    let rstd2: UnsafeMutablePointer<Float>  // (T)
    let gate: UnsafeMutablePointer<Float>  // (T, F)
    let up: UnsafeMutablePointer<Float>  // (T, F)
    let h: UnsafeMutablePointer<Float>  // (T, F)
    let loraTmp: UnsafeMutablePointer<Float>  // (7, T, R) inp·Aᵀ per target
    let attnOut: UnsafeMutablePointer<Float>  // (T, D) Gemma: attention output before its norm
    let rstdA: UnsafeMutablePointer<Float>  // (T)
    let mlpOut: UnsafeMutablePointer<Float>  // (T, D) Gemma: MLP output before its norm
    let rstdM: UnsafeMutablePointer<Float>  // (T)
    let normed: UnsafeMutablePointer<Float>  // (T, D) Gemma: a normed output before the residual add (scratch)
    /// T of `loraTmp`'s blocks.
    let tmpRows: Int

    /// The record whose field `f` starts at `at(f)`.
    init(tokens: Int, qkNorm: Bool, _ at: (Field) -> UnsafeMutablePointer<Float>) {
        ln1 = at(.ln1); rstd1 = at(.rstd1); qRstd = at(.qRstd); kRstd = at(.kRstd)
        q = at(.q); k = at(.k); v = at(.v); att = at(.att); lse = at(.lse)
        qRaw = qkNorm ? at(.qRaw) : q
        kRaw = qkNorm ? at(.kRaw) : k
        x2 = at(.x2); ln2 = at(.ln2); rstd2 = at(.rstd2); gate = at(.gate); up = at(.up); h = at(.h)
        loraTmp = at(.loraTmp)
        attnOut = at(.attnOut); rstdA = at(.rstdA); mlpOut = at(.mlpOut); rstdM = at(.rstdM); normed = at(.normed)
        tmpRows = tokens
    }

    /// Floats of one kept slot for `t` tokens: every field it holds, each rounded up to whole cache lines.
    static func slotFloats(tokens t: Int, config c: ModelConfig, rank r: Int) -> Int {
        Field.allCases.reduce(0) { $0 + ($1.recomputed(qkNorm: c.qkNorm) ? 0 : aligned($1.floats(tokens: t, config: c, rank: r))) }
    }

    /// `n` floats rounded up to 16 (64 bytes), so every buffer starts cache-line aligned.
    static func aligned(_ n: Int) -> Int { (n + 15) / 16 * 16 }
}

extension LlamaModel {
    /// The arena for `need`, reusing (and keeping) the current one when it is large enough. A training
    /// need replaces an inference-only arena instead of growing it: the reference pass scores big groups
    /// without gradients, and a training arena that large would hold (L+1)·T·D checkpoints it never uses.
    func workspace(for need: WorkspaceSize) -> Workspace {
        var need = need
        need.bf16 = computeDType == .bf16
        if let ws = workspace, ws.size.covers(need) {
            ws.bind(slot: nil, tokens: need.tokens)
            ws.usesBF16 = need.bf16
            return ws
        }
        let size = workspace.map { need.training && !$0.size.training ? need : $0.size.union(need) } ?? need
        workspace = nil  // free the old arena before allocating the new one
        let ws = Workspace(size: size, config: config, layers: layers, lmHead: lmHead)
        ws.usesBF16 = need.bf16
        workspace = ws
        return ws
    }

    /// Allocates the arena up front for batches of up to `tokens` tokens with up to `scoredTokens` scored
    /// tokens, so training never allocates after its first step.
    public func reserve(tokens: Int, scoredTokens: Int, loraRank: Int, training: Bool, dropout: Bool = false) {
        _ = workspace(
            for: WorkspaceSize(
                tokens: tokens, rows: scoredTokens, rank: loraRank, training: training, dropout: dropout, threads: Parallel.threads,
                keptFloats: training ? keptFloats(tokens: tokens, rank: loraRank) : 0))
    }

    /// Floats of kept activations a training pass over `tokens` tokens gets: whole slots (one layer's
    /// `LayerActivations` each) within `keptActivationBytes`, at most one per layer below the last (the
    /// last layer's activations are still in the shared buffers when its backward starts).
    func keptFloats(tokens: Int, rank: Int) -> Int {
        let slot = LayerActivations.slotFloats(tokens: max(1, tokens), config: config, rank: rank)
        return min(max(0, keptActivationBytes) / 4 / slot, config.numHiddenLayers - 1) * slot
    }

    /// Bytes held by the activation arena (0 before the first pass).
    public var workspaceBytes: Int { (workspace?.floatCount ?? 0) * 4 }
}
