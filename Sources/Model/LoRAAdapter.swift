// The LoRA parameters of a whole model: every A and B matrix in ONE flat f32 block (and a same-shaped
// gradient block), a table saying where each matrix lives, PEFT's default init and an on/off switch.
// R lora rank; A is (R, in) and B is (out, R), row-major, as PEFT stores lora_A / lora_B weights.
// On a model with fused projections (Phi-3's qkv_proj, gate_up_proj) the targets of one fused module share its
// A, and each one's B is its row range of the module's B (out = Q + 2·KV, or 2·F), so the flat block holds
// exactly PEFT's tensors; the shared A's gradient sums every member's contribution (gradients accumulate).

import SeededRandom
import TensorFile

public final class LoRAAdapter: @unchecked Sendable {
    // MARK: - Table

    /// Where one projection's A and B live in the flat blocks.
    public struct Entry: Sendable, Equatable {
        public var layer: Int
        public var target: LoRATarget
        /// Offset of A (R, in) in `parameters` / `gradients`.
        public var offsetA: Int
        /// Offset of B (out, R).
        public var offsetB: Int
        public var inFeatures: Int
        public var outFeatures: Int
        /// The module path (`self_attn.q_proj`, or Phi-3's fused `self_attn.qkv_proj`).
        public var module: String
        /// This target's first row in its module's B and base weight (0 unless fused).
        public var rowOffset: Int
        /// Rows of the module's B and base weight (outFeatures unless fused).
        public var moduleRows: Int
        /// The first target of the module, whose dropout mask every member shares (the module's one input).
        public var moduleTarget: LoRATarget

        /// `base_model.model.model.layers.N.self_attn.q_proj` (PEFT's module key).
        public var moduleKey: String { "base_model.model.model.layers.\(layer).\(module)" }
        public var nameA: String { moduleKey + ".lora_A.weight" }
        public var nameB: String { moduleKey + ".lora_B.weight" }
    }

    public let config: LoRAConfig
    /// Layer count and projection sizes the adapter was built for.
    public let modelConfig: ModelConfig
    public let entries: [Entry]
    /// Every A and B, laid out as `entries` says.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// d loss / d parameters, same layout; the backward pass accumulates into it (+=).
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// When false the model runs as if no adapter were attached (the DPO reference model).
    public var enabled = true
    /// entryIndex[layer * 7 + target.index], -1 when that projection has no adapter.
    private let entryIndex: [Int]

    public var rank: Int { config.r }
    public var scale: Float { config.scale }
    public var parameterCount: Int { parameters.count }

    // MARK: - Construction

    /// Builds the table for `modelConfig` and applies PEFT's default init: A ~ U(−1/√in, +1/√in) drawn from
    /// `Xoshiro256(seed)` in table order, B = 0 (so a fresh adapter leaves the model unchanged).
    public init(config: LoRAConfig, modelConfig: ModelConfig, seed: UInt64) throws {
        let plan = try Self.plan(config: config, modelConfig: modelConfig)
        self.config = config
        self.modelConfig = modelConfig
        self.entries = plan.entries
        var index = [Int](repeating: -1, count: modelConfig.numHiddenLayers * LoRATarget.allCases.count)
        for (i, e) in plan.entries.enumerated() { index[e.layer * LoRATarget.allCases.count + e.target.index] = i }
        self.entryIndex = index
        parameters = .allocate(capacity: plan.parameterCount)
        gradients = .allocate(capacity: plan.parameterCount)
        parameters.initialize(repeating: 0)
        gradients.initialize(repeating: 0)
        initialize(seed: seed)
    }

    /// The table an adapter of `config` for `modelConfig` would have, and its parameter count, computed
    /// without allocating (sizes with checked arithmetic), so a file's shapes can be compared first.
    public static func plan(config: LoRAConfig, modelConfig: ModelConfig) throws -> (entries: [Entry], parameterCount: Int) {
        try config.validate()
        try config.validate(for: modelConfig)
        let fused = modelConfig.fusedProjections
        let r = config.r
        var entries: [Entry] = []
        var offset = 0
        func add(_ a: Int, _ b: Int) throws -> Int {
            let (s, o) = a.addingReportingOverflow(b)
            guard !o else { throw LoRAConfigError("LoRA r=\(r) on this model needs more parameters than fit in memory") }
            return s
        }
        func mul(_ a: Int, _ b: Int) throws -> Int {
            let (p, o) = a.multipliedReportingOverflow(by: b)
            guard !o else { throw LoRAConfigError("LoRA r=\(r) on this model needs more parameters than fit in memory") }
            return p
        }
        for layer in 0..<max(0, modelConfig.numHiddenLayers) {
            var moduleA = 0, moduleB = 0
            for t in config.targets {
                let (inF, outF) = Self.shape(t, modelConfig)
                let group = t.fusedGroup(fused: fused)
                // Rows before t in its module, and the module's rows (validate(for:) keeps groups whole).
                let rowOffset = group.prefix(while: { $0 != t }).reduce(0) { $0 + Self.shape($1, modelConfig).outFeatures }
                let rows = group.reduce(0) { $0 + Self.shape($1, modelConfig).outFeatures }
                if rowOffset == 0 {
                    // The module's A (R, in) then its B (rows, R).
                    moduleA = offset
                    moduleB = try add(offset, try mul(r, inF))
                    offset = try add(moduleB, try mul(rows, r))
                }
                entries.append(
                    Entry(
                        layer: layer, target: t, offsetA: moduleA, offsetB: try add(moduleB, try mul(rowOffset, r)), inFeatures: inF,
                        outFeatures: outF, module: t.modulePath(fused: fused), rowOffset: rowOffset, moduleRows: rows, moduleTarget: group[0]))
            }
        }
        return (entries, offset)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
    }

    /// (in, out) features of a projection.
    public static func shape(_ t: LoRATarget, _ c: ModelConfig) -> (inFeatures: Int, outFeatures: Int) {
        let q = c.numAttentionHeads * c.headDim
        let kv = c.numKeyValueHeads * c.headDim
        switch t {
        case .q: return (c.hiddenSize, q)
        case .k, .v: return (c.hiddenSize, kv)
        case .o: return (q, c.hiddenSize)
        case .gate, .up: return (c.hiddenSize, c.intermediateSize)
        case .down: return (c.intermediateSize, c.hiddenSize)
        }
    }

    /// PEFT's default init (kaiming_uniform with a=√5, i.e. U(±1/√in)) for A, zeros for B; gradients zeroed.
    public func initialize(seed: UInt64) {
        var rng = Xoshiro256(seed: seed)
        for e in entries {
            let bound = 1 / Float(e.inFeatures).squareRoot()
            let a = parameters.baseAddress! + e.offsetA
            // A fused module's A is drawn once, by its first member.
            if e.rowOffset == 0 { for i in 0..<(config.r * e.inFeatures) { a[i] = (2 * rng.nextUnitFloat() - 1) * bound } }
            (parameters.baseAddress! + e.offsetB).update(repeating: 0, count: e.outFeatures * config.r)
        }
        zeroGradients()
    }

    // MARK: - Access

    /// The table entry of `target` in `layer`, nil when that projection has no adapter.
    public func entry(layer: Int, target: LoRATarget) -> Entry? {
        let i = entryIndex[layer * LoRATarget.allCases.count + target.index]
        return i >= 0 ? entries[i] : nil
    }

    /// A (R, in) of an entry.
    public func a(_ e: Entry) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + e.offsetA }
    /// B (out, R) of an entry.
    public func b(_ e: Entry) -> UnsafeMutablePointer<Float> { parameters.baseAddress! + e.offsetB }
    public func da(_ e: Entry) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + e.offsetA }
    public func db(_ e: Entry) -> UnsafeMutablePointer<Float> { gradients.baseAddress! + e.offsetB }

    public func zeroGradients() { gradients.update(repeating: 0) }

    /// Every tensor with its PEFT name and [rows, cols] shape, in table order (A then B per module).
    public var tensorNames: [(name: String, shape: [Int], offset: Int)] { Self.tensorNames(entries, rank: config.r) }

    /// The PEFT tensors of a table: A (R, in) and B (module rows, R) of each module, once per fused module.
    public static func tensorNames(_ entries: [Entry], rank r: Int) -> [(name: String, shape: [Int], offset: Int)] {
        entries.filter { $0.rowOffset == 0 }.flatMap { e in
            [(e.nameA, [r, e.inFeatures], e.offsetA), (e.nameB, [e.moduleRows, r], e.offsetB)]
        }
    }

    /// A copy of the parameters (for checkpoints and tests).
    public func parameterArray() -> [Float] { Array(parameters) }

    /// Overwrites the parameters with `values` (same count and layout).
    public func setParameters(_ values: [Float]) {
        precondition(values.count == parameters.count, "parameter count \(values.count) != \(parameters.count)")
        _ = values.withUnsafeBufferPointer { parameters.update(fromContentsOf: $0) }
    }

    /// An independent adapter with the same shape and parameters (zero gradients): a frozen snapshot, such as
    /// the reference a run keeps while it trains this one.
    public func copy() throws -> LoRAAdapter {
        let c = try LoRAAdapter(config: config, modelConfig: modelConfig, seed: 0)
        _ = c.parameters.update(fromContentsOf: parameters)
        return c
    }
}
