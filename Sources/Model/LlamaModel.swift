// The Llama-family decoder (Llama incl. Llama 3 rope scaling / SmolLM2 / Mistral, Qwen2 q/k/v bias,
// Qwen3 per-head q/k RMSNorm, Gemma 2 / Gemma 3 with their extra norms, GeGLU and soft caps, Phi-3's fused
// qkv_proj / gate_up_proj as row views; tied or untied LM head) over a memory-mapped MTF base. The big weights are
// views into the mapping and are never copied; norm weights are decoded once into one small owned block.
// T tokens, D model dim, H heads, Hk kv heads, Dh head dim, F ffn dim, V vocab, L layers.

import Foundation
import Kernels
import TensorFile

// MARK: - Weights

/// One decoder layer's frozen weights.
struct LayerWeights {
    let inputNorm: UnsafePointer<Float>  // (D)
    let postNorm: UnsafePointer<Float>  // (D) the MLP's input norm (Gemma's pre_feedforward_layernorm)
    let attnOutNorm: UnsafePointer<Float>?  // (D) Gemma's post_attention_layernorm, on the attention output
    let mlpOutNorm: UnsafePointer<Float>?  // (D) Gemma's post_feedforward_layernorm, on the MLP output
    let qNorm: UnsafePointer<Float>?  // (Dh), Qwen3
    let kNorm: UnsafePointer<Float>?  // (Dh), Qwen3
    let q: FrozenLinear  // (H·Dh, D) (+ bias for Qwen2)
    let k: FrozenLinear  // (Hk·Dh, D)
    let v: FrozenLinear  // (Hk·Dh, D)
    let o: FrozenLinear  // (D, H·Dh)
    let gate: FrozenLinear  // (F, D)
    let up: FrozenLinear  // (F, D)
    let down: FrozenLinear  // (D, F)

    func linear(_ t: LoRATarget) -> FrozenLinear {
        switch t {
        case .q: q
        case .k: k
        case .v: v
        case .o: o
        case .gate: gate
        case .up: up
        case .down: down
        }
    }
}

// MARK: - Model

/// Not safe for concurrent calls: one forward, backward or generation at a time (they share one arena).
public final class LlamaModel: @unchecked Sendable {
    public let file: MappedTensorFile
    public let config: ModelConfig
    let embedding: WeightMatrix  // (V, D)
    let lmHead: WeightMatrix  // (V, D), the embedding when tied
    let finalNorm: UnsafePointer<Float>  // (D)
    let layers: [LayerWeights]
    /// Decoded norm weights of every layer, owned (Gemma's with the + 1 of its (1 + w) already added).
    private let small: UnsafeMutableBufferPointer<Float>
    /// cos/sin for positions 0..<rope.maxPosition; grown (rarely) when a longer sequence arrives.
    var rope: RoPE.Table
    /// Gemma 3's sliding layers: cos/sin at rope_local_base_freq (nil: every layer uses `rope`).
    var localRope: RoPE.Table?
    /// LongRoPE's table with the long factors, made when a pass first reaches beyond the original length.
    var longRope: RoPE.Table?
    /// Whether the current pass uses `longRope`: as transformers, every position of a pass whose last position is
    /// beyond original_max_position_embeddings (set by ensureRope, which each pass calls with its length).
    var usesLongRope = false
    var workspace: Workspace?
    /// Set while forwardBackward waits for the caller's loss gradient; any other call then is a bug.
    var busy = false
    let pages: WeightPages
    /// The benchmark switches the model was built with (the shipped defaults outside tools/bench and tests).
    @_spi(Benchmarks) public let switches: BenchmarkSwitches
    /// Whether batch passes (scoring, training) unmap each layer's weight pages once done with it, so the
    /// resident set holds about one layer of the model instead of all of it (WeightPages). On unless a
    /// benchmark switched it off.
    public var releasesWeightPages: Bool { switches.releasesWeightPages }
    /// Bytes a training pass may spend keeping layers' activations from its forward (`LayerActivations`,
    /// a slot per layer), so the backward need not recompute those layers: 0 recomputes every layer; the
    /// results are the same bits either way. It bounds the kept activations only, not the process (the
    /// per-layer buffers, checkpoints and mapped weights come on top). The arena is sized from it on the
    /// first training pass; setting it drops the arena. Unless set (`--memory-budget`) or given by a
    /// benchmark, MemoryRoom.keptActivationDefault, read on first use (so scoring and generation never
    /// look): half the room beyond the first GiB, which keeps every layer of SmolLM2-135M on a roomy
    /// machine and nothing under a tight memory cgroup.
    public var keptActivationBytes: Int {
        get {
            if let b = keptActivationBudget { return b }
            let b = switches.keptActivationBytes ?? MemoryRoom.keptActivationDefault()
            keptActivationBudget = b
            return b
        }
        set {
            keptActivationBudget = max(0, newValue)
            workspace = nil
        }
    }
    private var keptActivationBudget: Int?
    /// Layers whose recompute the last training pass skipped (their activations were kept), of L − 1.
    public internal(set) var keptLayers = 0

    /// The element type of the frozen-weight products (`--compute-dtype`): f32 (the default, exact) or bf16
    /// through oneDNN. LoRA, norms, attention, the LM head, the loss and the optimizer stay f32 either way.
    /// Set it with `setComputeDType`, which falls back to f32 where the CPU lacks bf16 instructions.
    public private(set) var computeDType = ComputeDType.f32

    /// Asks for `dtype` for the products of the passes that follow. Returns a one-line note when bf16 was
    /// asked for and this CPU cannot run it natively, in which case the model keeps f32 (sgemm).
    @discardableResult
    public func setComputeDType(_ dtype: ComputeDType, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard dtype == .bf16 else {
            computeDType = dtype
            return nil
        }
        switch BF16Matmul.support(environment: environment) {
        case .available:
            computeDType = .bf16
            return nil
        case .missing(let reason):
            computeDType = .f32
            return "note: --compute-dtype bf16 falls back to f32 (sgemm): \(reason)"
        }
    }

    public var dim: Int { config.hiddenSize }
    public var vocabSize: Int { config.vocabSize }
    public var layerCount: Int { config.numHiddenLayers }
    /// Longest sequence the model accepts (its max_position_embeddings).
    public var maxPositions: Int { config.maxPositionEmbeddings }

    /// Worker threads for the kernels' loops and products (process-wide). The products are split over
    /// these workers (BLAS.parallelSgemm) and OpenBLAS itself stays at one thread: its own pool would spin
    /// (sched_yield) between products and compete with ours for the cores.
    public var threads: Int {
        get { Parallel.threads }
        set {
            precondition(newValue >= 1)
            Parallel.threads = newValue
            BLAS.setThreads(1)
        }
    }

    /// Opens the model at `path` (an MTF file).
    public convenience init(path: String, threads: Int? = nil) throws {
        try self.init(file: MappedTensorFile(path: path), threads: threads, switches: .shipped)
    }

    /// Builds the model over `file`'s mapping. Checks every tensor the config needs and its shape.
    public convenience init(file: MappedTensorFile, threads: Int? = nil) throws {
        try self.init(file: file, threads: threads, switches: .shipped)
    }

    /// Opens the model at `path` with some optimizations switched off (tools/bench --ablate, tests).
    @_spi(Benchmarks) public convenience init(path: String, threads: Int? = nil, switches: BenchmarkSwitches) throws {
        try self.init(file: MappedTensorFile(path: path), threads: threads, switches: switches)
    }

    /// Builds the model over `file`'s mapping with some optimizations switched off (tools/bench --ablate, tests).
    /// `threads` nil or 0 means all cores (every command's `--threads 0`); a negative count is refused.
    @_spi(Benchmarks) public init(file: MappedTensorFile, threads: Int? = nil, switches: BenchmarkSwitches) throws {
        if let t = threads, t < 0 { throw ModelError.unsupported(what: "--threads must be ≥ 0 (0: all cores), got \(t)") }
        let c = file.config
        do { try c.validate() } catch { throw ModelError.unsupported(what: "\(file.path): config: \(error)") }
        self.file = file
        self.config = c
        self.switches = switches
        for (name, shape) in c.requiredTensors {
            guard let info = file.info(name) else { throw TensorFileError.missingTensor(path: file.path, tensor: name) }
            guard info.shape == shape else {
                throw TensorFileError.badTensor(path: file.path, tensor: name, what: "shape \(info.shape), the config needs \(shape)")
            }
        }
        let d = c.hiddenSize, dh = c.headDim
        do {
            rope = try RoPE.Table(
                headDim: dh, theta: c.ropeTheta, scaling: c.ropeScaling, maxPosition: min(c.maxPositionEmbeddings, 1024))
            localRope = try c.ropeLocalBaseFreq.map {
                try RoPE.Table(headDim: dh, theta: $0, scaling: nil, maxPosition: min(c.maxPositionEmbeddings, 1024))
            }
        } catch {
            throw ModelError.unsupported(what: "\(file.path): \(error)")
        }
        // Every name was checked above, so the lookups below cannot fail once the block is allocated.
        let perLayer = 2 * d + (c.qkNorm ? 2 * dh : 0) + (c.isGemma ? 2 * d : 0)
        let small = UnsafeMutableBufferPointer<Float>.allocate(capacity: d + c.numHiddenLayers * perLayer)
        self.small = small
        var cursor = 0
        func decode(_ name: String) throws -> UnsafePointer<Float> {
            let view = try file.view(name)
            let p = small.baseAddress! + cursor
            view.decodeRows(0, count: view.rows, into: p)
            // Gemma's RMSNorm scales by (1 + w): added once here, the file keeps Hugging Face's w.
            if c.isGemma { for i in 0..<view.info.elementCount { p[i] += 1 } }
            cursor += view.info.elementCount
            return UnsafePointer(p)
        }
        func linear(_ name: String, bias: Bool = false) throws -> FrozenLinear {
            let w = try file.view(name + ".weight")
            return FrozenLinear(weight: w, bias: bias ? try file.view(name + ".bias") : nil)
        }
        // Phi-3's fused weights: rows of a row-major (out, in) matrix are contiguous (whole blocks when quantized),
        // so q/k/v and gate/up are row ranges of them, viewed in place.
        let q = c.numAttentionHeads * dh, kv = c.numKeyValueHeads * dh, f = c.intermediateSize
        func rows(_ name: String, _ start: Int, _ count: Int) throws -> FrozenLinear {
            let w = WeightMatrix(try file.view(name + ".weight"))
            return FrozenLinear(weight: WeightMatrix(base: w.row(start), dtype: w.dtype, rows: count, cols: w.cols))
        }
        func projection(_ p: String, _ t: LoRATarget) throws -> FrozenLinear {
            guard c.fusedProjections else {
                let bias = c.attentionBias && [.q, .k, .v].contains(t)
                return try linear(p + t.modulePath, bias: bias)
            }
            switch t {
            case .q: return try rows(p + "self_attn.qkv_proj", 0, q)
            case .k: return try rows(p + "self_attn.qkv_proj", q, kv)
            case .v: return try rows(p + "self_attn.qkv_proj", q + kv, kv)
            case .gate: return try rows(p + "mlp.gate_up_proj", 0, f)
            case .up: return try rows(p + "mlp.gate_up_proj", f, f)
            case .o, .down: return try linear(p + t.modulePath)
            }
        }
        let embedding = WeightMatrix(try file.view("model.embed_tokens.weight"))
        self.embedding = embedding
        lmHead = c.tieWordEmbeddings ? embedding : WeightMatrix(try file.view("lm_head.weight"))
        let finalNorm = try decode("model.norm.weight")
        self.finalNorm = finalNorm
        var layers: [LayerWeights] = []
        for l in 0..<c.numHiddenLayers {
            let p = "model.layers.\(l)."
            layers.append(
                LayerWeights(
                    inputNorm: try decode(p + "input_layernorm.weight"),
                    postNorm: try decode(p + (c.isGemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")),
                    attnOutNorm: c.isGemma ? try decode(p + "post_attention_layernorm.weight") : nil,
                    mlpOutNorm: c.isGemma ? try decode(p + "post_feedforward_layernorm.weight") : nil,
                    qNorm: c.qkNorm ? try decode(p + "self_attn.q_norm.weight") : nil,
                    kNorm: c.qkNorm ? try decode(p + "self_attn.k_norm.weight") : nil,
                    q: try projection(p, .q), k: try projection(p, .k), v: try projection(p, .v), o: try projection(p, .o),
                    gate: try projection(p, .gate), up: try projection(p, .up), down: try projection(p, .down)))
        }
        self.layers = layers
        pages = WeightPages(file: file, config: c)
        self.threads = threads.flatMap { $0 > 0 ? $0 : nil } ?? Parallel.threads
    }

    deinit { small.deallocate() }

    // MARK: - Shared steps

    /// out = embedding rows of `tokens`, times √D for Gemma.
    func embed(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, count t: Int) {
        Embedding.forward(out: out, tokens: tokens, table: embedding, count: t)
        if let s = config.embeddingScale {
            Parallel.forChunks(count: t * config.hiddenSize, minChunk: 16_384) { range, _ in
                for i in range { out[i] *= s }
            }
        }
    }

    /// The RoPE table of layer `l`: the local one for Gemma 3's sliding layers.
    func ropeTable(_ l: Int) -> RoPE.Table {
        if let localRope, config.isSlidingLayer(l) { return localRope }
        if usesLongRope, let longRope { return longRope }
        return rope
    }

    /// Gemma 2's final-logit soft cap, as the kernels take it.
    var logitSoftcap: Float? { config.finalLogitSoftcapping.map { Float($0) } }

    // MARK: - Shared checks

    /// Makes sure the RoPE table covers positions 0..<length (grows in powers of two, never shrinks), and picks
    /// LongRoPE's short or long factors for a pass of that length.
    func ensureRope(_ length: Int) {
        if let s = config.ropeScaling, s.ropeType == "longrope", let original = s.originalMaxPositionEmbeddings {
            usesLongRope = length > original
            if usesLongRope, (longRope?.maxPosition ?? 0) < max(length, rope.maxPosition) {
                do {
                    longRope = try RoPE.Table(
                        headDim: config.headDim, theta: config.ropeTheta, scaling: s, maxPosition: max(length, rope.maxPosition), long: true)
                } catch {
                    preconditionFailure("the RoPE scaling was accepted when the model was built: \(error)")
                }
            }
        }
        guard length > rope.maxPosition else { return }
        var n = rope.maxPosition
        while n < length { n *= 2 }
        n = min(n, config.maxPositionEmbeddings)
        do {
            rope = try RoPE.Table(headDim: config.headDim, theta: config.ropeTheta, scaling: config.ropeScaling, maxPosition: n)
            localRope = try config.ropeLocalBaseFreq.map { try RoPE.Table(headDim: config.headDim, theta: $0, scaling: nil, maxPosition: n) }
        } catch {
            preconditionFailure("the RoPE scaling was accepted when the model was built: \(error)")
        }
    }

    /// Token ids in range, every sequence within the model's positions, segments tiling the stream, and
    /// each prefix the start of an earlier independent segment.
    func validate(_ batch: PackedBatch) throws {
        guard batch.tokenCount > 0 else { throw ModelError.emptyBatch }
        guard batch.positions.count == batch.tokenCount else {
            throw ModelError.unsupported(what: "malformed PackedBatch: \(batch.positions.count) positions for \(batch.tokenCount) tokens")
        }
        var next = 0
        var independent: [Int: Int] = [:]  // start → segment index
        for (s, seg) in batch.segments.enumerated() {
            guard seg.start == next, seg.length >= 1 else {
                throw ModelError.unsupported(what: "malformed PackedBatch: segment \(s) starts at \(seg.start), expected \(next)")
            }
            next += seg.length
            guard next <= batch.tokenCount else {
                throw ModelError.unsupported(what: "malformed PackedBatch: segment \(s) runs past token \(batch.tokenCount)")
            }
            if !seg.prefix.isEmpty {
                guard let j = independent[seg.prefix.lowerBound], seg.prefix.count <= batch.segments[j].length else {
                    throw ModelError.unsupported(
                        what: "malformed PackedBatch: segment \(s)'s prefix \(seg.prefix) is not the start of an earlier independent segment")
                }
            } else {
                independent[seg.start] = s
            }
            for i in seg.range {
                let id = batch.tokens[i], p = batch.positions[i]
                guard id >= 0, Int(id) < config.vocabSize else {
                    throw ModelError.tokenOutOfRange(
                        sequence: s, index: i - seg.start + seg.prefix.count, id: id, vocab: config.vocabSize)
                }
                guard p >= 0, Int(p) < config.maxPositionEmbeddings else {
                    throw ModelError.sequenceTooLong(sequence: s, length: Int(p) + 1, maximum: config.maxPositionEmbeddings)
                }
            }
        }
        guard next == batch.tokenCount else {
            throw ModelError.unsupported(what: "malformed PackedBatch: segments cover \(next) of \(batch.tokenCount) tokens")
        }
    }

    /// Offsets rising from 0 to the entry count, rows inside the batch, targets in the vocabulary.
    func validate(_ scoring: ScoredTokens, tokens: Int) throws {
        let n = scoring.rows.count
        guard scoring.targets.count == n else { throw ModelError.badScoring(what: "\(n) rows but \(scoring.targets.count) targets") }
        guard scoring.offsets.first == 0, scoring.offsets.last == n, zip(scoring.offsets, scoring.offsets.dropFirst()).allSatisfy({ $0 <= $1 })
        else { throw ModelError.badScoring(what: "group offsets must rise from 0 to \(n)") }
        for i in 0..<n {
            let r = scoring.rows[i], id = scoring.targets[i]
            guard r >= 0, Int(r) < tokens else { throw ModelError.badScoring(what: "entry \(i): row \(r) is outside the batch's \(tokens) tokens") }
            guard id >= 0, Int(id) < config.vocabSize else {
                throw ModelError.badScoring(what: "entry \(i): target \(id) is outside the vocabulary (0..<\(config.vocabSize))")
            }
        }
    }

    /// The adapter to apply: nil when absent or switched off. Throws when it was built for another shape.
    func activeAdapter(_ adapter: LoRAAdapter?) throws -> LoRAAdapter? {
        guard let adapter, adapter.enabled else { return nil }
        let a = adapter.modelConfig, c = config
        guard a.numHiddenLayers == c.numHiddenLayers, a.hiddenSize == c.hiddenSize, a.intermediateSize == c.intermediateSize,
            a.numAttentionHeads == c.numAttentionHeads, a.numKeyValueHeads == c.numKeyValueHeads, a.headDim == c.headDim
        else {
            throw ModelError.adapterMismatch(
                what:
                    "built for \(a.numHiddenLayers) layers, hidden \(a.hiddenSize), ffn \(a.intermediateSize), heads \(a.numAttentionHeads)/\(a.numKeyValueHeads)×\(a.headDim); the model has \(c.numHiddenLayers), \(c.hiddenSize), \(c.intermediateSize), \(c.numAttentionHeads)/\(c.numKeyValueHeads)×\(c.headDim)"
            )
        }
        return adapter
    }
}
