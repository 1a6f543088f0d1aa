// Every knob of `leandpo train`, typed, with its one default and its one validation. The option table
// (TrainOption.swift) is the only way in and out: the command line, `--config`, run.json, checkpoints and
// the resume check all go through it. Names follow TRL's DPOConfig where TRL has the knob.

import Kernels
import Model

public struct TrainArguments: Sendable, Equatable {
    // MARK: Inputs and outputs
    public var model = ""
    public var data = ""
    public var evalData: String?
    public var evalSplit: Double?
    public var output = ""
    public var initAdapter: String?
    public var reference = ReferenceModel.initial

    // MARK: LoRA
    public var lora = LoRAConfig()
    public var seed: UInt64 = 42

    // MARK: Loss
    public var loss: [LossKind] = [.sigmoid]
    public var lossWeights: [Double]?
    public var beta = 0.1
    public var labelSmoothing = 0.0
    public var ldAlpha: Double?
    public var simpoGamma = 0.5
    public var orpoLambda = 0.1
    public var discopopTau = 0.05
    public var desirableWeight = 1.0
    public var undesirableWeight = 1.0
    public var fDivergence = FDivergence.reverseKL
    public var alphaDivergenceCoef = 0.5
    public var useWeighting = false

    // MARK: Data
    public var maxLength = 1024
    public var truncationMode = TruncationMode.keepStart
    public var skipInvalid = false
    public var shuffle = true

    // MARK: Optimization
    public var lr = 5e-5
    public var lrSchedulerType = LRSchedule.Kind.linear
    public var warmupSteps = 0
    public var warmupRatio = 0.0
    public var adamBeta1 = 0.9
    public var adamBeta2 = 0.999
    public var adamEpsilon = 1e-8
    public var weightDecay = 0.0
    public var maxGradNorm = 1.0
    public var batchSize = 4
    public var gradAccum = 1
    public var epochs = 1.0
    /// ≤ 0: run `epochs` epochs.
    public var maxSteps = -1

    // MARK: Reporting and saving
    public var loggingSteps = 10
    /// Logging windows of falling logps/chosen with growing margins before the collapse warning (0: never).
    public var collapseWindows = 3
    /// Log `kl`, the per-token KL(πθ ‖ πref): one reference forward per micro-batch (opt-in).
    public var klEstimate = false
    /// 0: evaluate at the end only.
    public var evalSteps = 0
    /// 0: save at the end only (and when interrupted).
    public var saveSteps = 0
    public var saveTotalLimit = 2
    /// 0: all cores.
    public var threads = 0
    /// Bytes the training pass may keep of layer activations (`LlamaModel.keptActivationBytes`); nil: auto
    /// (MemoryRoom's default for this machine).
    public var memoryBudget: Int?
    /// The element type of the frozen-weight products: f32 (exact) or bf16 through oneDNN where the CPU has it.
    public var computeDType = ComputeDType.f32
    public var reportTo: [ReportTarget] = []

    public init() {}

    public init(model: String, data: String, output: String) {
        self.model = model
        self.data = data
        self.output = output
    }

    /// What the data pipeline needs (shared with `leandpo eval`).
    public var dataOptions: DataOptions { DataOptions(maxLength: maxLength, truncation: truncationMode, skipInvalid: skipInvalid) }

    public var lossConfig: LossConfig {
        var config = LossConfig(
            losses: loss.enumerated().map { WeightedLoss($1, weight: lossWeights?[$0] ?? 1) }, beta: beta, labelSmoothing: labelSmoothing,
            ldAlpha: ldAlpha, discopopTau: discopopTau, simpoGamma: simpoGamma, orpoLambda: orpoLambda,
            desirableWeight: desirableWeight, undesirableWeight: undesirableWeight)
        config.fDivergence = fDivergence
        config.alphaDivergenceCoef = alphaDivergenceCoef
        config.useWeighting = useWeighting
        return config
    }

    /// Every check of a value a user gave, in one place; the message names the option as written in
    /// `--config` and on the command line (`lora_r` / `--lora-r`).
    public func validate() throws(ArgumentError) {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws(ArgumentError) {
            if !ok { throw ArgumentError(message()) }
        }
        do { try lora.validate() } catch { throw ArgumentError("\(error)") }
        if let w = lossWeights {
            try check(w.count == loss.count, "loss_weights: \(w.count) weights for \(loss.count) losses; give one weight per loss")
        }
        do { try lossConfig.validate() } catch { throw ArgumentError(error.message) }
        if let u = loss.first(where: \.isUnpaired) {
            // TRL's KTOTrainer: the KL completions are fixed against neighbours in file order, one batch apart.
            try check(lossWeights == nil, "loss_weights: '\(u.rawValue)' is weighted by desirable_weight and undesirable_weight")
            try check(truncationMode == .keepStart, "truncation_mode: '\(u.rawValue)' truncates keep_start only (TRL's KTOTrainer)")
            if KTOLoss.needsKL(u) {
                try check(
                    batchSize > 1,
                    "batch_size must be > 1 for '\(u.rawValue)': its KL term pairs each prompt with another example's completion in the same micro-batch (TRL: \"Actual (not effective) batch size must be > 1\"); use apo_zero_unpaired for batch_size 1"
                )
                try check(
                    !shuffle,
                    "'\(u.rawValue)' needs --no-shuffle: its KL completions are built from neighbouring examples in file order (TRL's train_sampling_strategy='sequential'); shuffle the file beforehand instead"
                )
            }
        }
        try check(maxLength >= 2, "max_length must be at least 2, got \(maxLength)")
        try check(lr > 0 && lr.isFinite, "lr must be > 0, got \(lr)")
        try check(warmupSteps >= 0, "warmup_steps must be ≥ 0, got \(warmupSteps)")
        try check(warmupRatio >= 0 && warmupRatio < 1, "warmup_ratio must lie in [0, 1), got \(warmupRatio)")
        try check(adamBeta1 >= 0 && adamBeta1 < 1, "adam_beta1 must lie in [0, 1), got \(adamBeta1)")
        try check(adamBeta2 >= 0 && adamBeta2 < 1, "adam_beta2 must lie in [0, 1), got \(adamBeta2)")
        try check(adamEpsilon > 0 && adamEpsilon.isFinite, "adam_epsilon must be > 0, got \(adamEpsilon)")
        try check(weightDecay >= 0 && weightDecay.isFinite, "weight_decay must be ≥ 0, got \(weightDecay)")
        try check(maxGradNorm >= 0 && maxGradNorm.isFinite, "max_grad_norm must be ≥ 0 (0 turns clipping off), got \(maxGradNorm)")
        try check(batchSize >= 1, "batch_size must be ≥ 1, got \(batchSize)")
        try check(gradAccum >= 1, "grad_accum must be ≥ 1, got \(gradAccum)")
        try check(epochs.isFinite && epochs >= 0, "epochs must be ≥ 0, got \(epochs)")
        try check(epochs > 0 || maxSteps > 0, "give epochs > 0 or max_steps > 0")
        try check(loggingSteps >= 1, "logging_steps must be ≥ 1, got \(loggingSteps)")
        try check(collapseWindows >= 0, "collapse_windows must be ≥ 0 (0: never warn), got \(collapseWindows)")
        try check(evalSteps >= 0, "eval_steps must be ≥ 0 (0: at the end only), got \(evalSteps)")
        try check(saveSteps >= 0, "save_steps must be ≥ 0 (0: at the end only), got \(saveSteps)")
        try check(saveTotalLimit >= 1, "save_total_limit must be ≥ 1, got \(saveTotalLimit)")
        try check(threads >= 0, "threads must be ≥ 0 (0: all cores), got \(threads)")
        if let b = memoryBudget { try check(b >= 0, "memory_budget must be ≥ 0 (0: recompute every layer), got \(b)") }
        if let s = evalSplit { try check(s > 0 && s < 1, "eval_split must lie in (0, 1), got \(s)") }
        try check(!(evalSplit != nil && evalData != nil), "give eval_data or eval_split, not both")
        try check(!model.isEmpty, "model is required (--model, or model in --config)")
        try check(!data.isEmpty, "data is required (--data, or data in --config)")
        try check(!output.isEmpty, "output is required (--output, or output in --config)")
    }
}

/// The model the policy is compared with. `initial`: the model training starts from — base + `--init-adapter`,
/// frozen, as TRL does when handed a PeftModel (a new adapter's B = 0 leaves the base itself). `base`: the base
/// with the adapters off, whatever the start.
public enum ReferenceModel: String, Sendable, CaseIterable {
    case initial, base
}

/// Where metrics go besides metrics.jsonl (TRL's `report_to`).
public enum ReportTarget: String, Sendable, CaseIterable {
    case tensorboard
}

public struct ArgumentError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
