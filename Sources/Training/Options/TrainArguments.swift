// Every knob of `leandpo train`, as one Codable struct: the CLI fills it, `--config run.yaml|json` fills
// it, checkpoints store it, and resume compares it. Names follow TRL's DPOConfig where TRL has the knob.

import Model

public struct TrainArguments: Codable, Sendable, Equatable {
    // MARK: Inputs and outputs
    public var model: String
    public var data: String
    public var evalData: String?
    public var evalSplit: Double?
    public var output: String
    public var initAdapter: String?

    // MARK: LoRA
    public var lora: LoRAConfig
    public var seed: UInt64

    // MARK: Loss
    public var loss: [String]
    public var lossWeights: [Double]?
    public var beta: Double
    public var labelSmoothing: Double
    public var ldAlpha: Double?
    public var simpoGamma: Double
    public var orpoLambda: Double
    public var discopopTau: Double

    // MARK: Data
    public var maxLength: Int
    public var truncationMode: String
    public var skipInvalid: Bool
    public var shuffle: Bool

    // MARK: Optimization
    public var lr: Double
    public var lrSchedulerType: String
    public var warmupSteps: Int
    public var warmupRatio: Double
    public var adamBeta1: Double
    public var adamBeta2: Double
    public var adamEpsilon: Double
    public var weightDecay: Double
    public var maxGradNorm: Double
    public var batchSize: Int
    public var gradAccum: Int
    public var epochs: Double
    public var maxSteps: Int

    // MARK: Reporting and saving
    public var loggingSteps: Int
    public var evalSteps: Int
    public var saveSteps: Int
    public var saveTotalLimit: Int
    public var threads: Int

    public init(model: String, data: String, output: String) {
        self.model = model
        self.data = data
        self.output = output
        lora = LoRAConfig()
        seed = 42
        loss = ["sigmoid"]
        beta = 0.1
        labelSmoothing = 0
        simpoGamma = 0.5
        orpoLambda = 0.1
        discopopTau = 0.05
        maxLength = 1024
        truncationMode = "keep_start"
        skipInvalid = false
        shuffle = true
        lr = 5e-5
        lrSchedulerType = "linear"
        warmupSteps = 0
        warmupRatio = 0
        adamBeta1 = 0.9
        adamBeta2 = 0.999
        adamEpsilon = 1e-8
        weightDecay = 0
        maxGradNorm = 1
        batchSize = 4
        gradAccum = 1
        epochs = 1
        maxSteps = -1
        loggingSteps = 10
        evalSteps = 0
        saveSteps = 0
        saveTotalLimit = 2
        threads = 0
    }

    public var lossConfig: LossConfig {
        get throws {
            let losses = try LossConfig.parseLosses(loss, weights: lossWeights)
            let c = LossConfig(
                losses: losses, beta: beta, labelSmoothing: labelSmoothing, ldAlpha: ldAlpha, discopopTau: discopopTau,
                simpoGamma: simpoGamma, orpoLambda: orpoLambda)
            try c.validate()
            return c
        }
    }

    public var truncation: TruncationMode {
        get throws {
            guard let t = TruncationMode(rawValue: truncationMode) else {
                throw ArgumentError("--truncation-mode must be keep_start or keep_end, got \(truncationMode)")
            }
            return t
        }
    }

    public var scheduleKind: LRSchedule.Kind {
        get throws {
            guard let k = LRSchedule.Kind(rawValue: lrSchedulerType) else {
                throw ArgumentError("--lr-scheduler-type must be constant, linear or cosine, got \(lrSchedulerType)")
            }
            return k
        }
    }

    /// Cross-field checks; the message names the option.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw ArgumentError(message) } }
        try lora.validate()
        _ = try lossConfig
        _ = try truncation
        _ = try scheduleKind
        try check(maxLength >= 2, "--max-length must be at least 2, got \(maxLength)")
        try check(lr > 0 && lr.isFinite, "--lr must be > 0, got \(lr)")
        try check(warmupSteps >= 0, "--warmup-steps must be ≥ 0")
        try check(warmupRatio >= 0 && warmupRatio < 1, "--warmup-ratio must lie in [0, 1)")
        try check(adamBeta1 >= 0 && adamBeta1 < 1, "--adam-beta1 must lie in [0, 1)")
        try check(adamBeta2 >= 0 && adamBeta2 < 1, "--adam-beta2 must lie in [0, 1)")
        try check(adamEpsilon > 0, "--adam-epsilon must be > 0")
        try check(weightDecay >= 0, "--weight-decay must be ≥ 0")
        try check(maxGradNorm >= 0, "--max-grad-norm must be ≥ 0 (0 turns clipping off)")
        try check(batchSize >= 1, "--batch-size must be ≥ 1")
        try check(gradAccum >= 1, "--grad-accum must be ≥ 1")
        try check(epochs > 0 || maxSteps > 0, "give --epochs > 0 or --max-steps > 0")
        try check(loggingSteps >= 1, "--logging-steps must be ≥ 1")
        try check(evalSteps >= 0 && saveSteps >= 0, "--eval-steps and --save-steps must be ≥ 0")
        try check(saveTotalLimit >= 1, "--save-total-limit must be ≥ 1")
        try check(threads >= 0, "--threads must be ≥ 0 (0: all cores)")
        if let s = evalSplit { try check(s > 0 && s < 1, "--eval-split must lie in (0, 1), got \(s)") }
        try check(!(evalSplit != nil && evalData != nil), "give --eval-data or --eval-split, not both")
    }

    /// The arguments whose change would make a resumed run differ from an uninterrupted one, with their
    /// option names; `model` and `data` are compared by content (fingerprint, data hash), not by path.
    public func exactnessDifferences(from other: TrainArguments) -> [String] {
        var d: [String] = []
        func cmp<T: Equatable>(_ a: T, _ b: T, _ name: String) { if a != b { d.append(name) } }
        cmp(lora, other.lora, "--lora-*")
        cmp(seed, other.seed, "--seed")
        cmp(initAdapter, other.initAdapter, "--init-adapter")
        cmp(loss, other.loss, "--loss")
        cmp(lossWeights, other.lossWeights, "--loss-weights")
        cmp(beta, other.beta, "--beta")
        cmp(labelSmoothing, other.labelSmoothing, "--label-smoothing")
        cmp(ldAlpha, other.ldAlpha, "--ld-alpha")
        cmp(simpoGamma, other.simpoGamma, "--simpo-gamma")
        cmp(orpoLambda, other.orpoLambda, "--orpo-lambda")
        cmp(discopopTau, other.discopopTau, "--discopop-tau")
        cmp(maxLength, other.maxLength, "--max-length")
        cmp(truncationMode, other.truncationMode, "--truncation-mode")
        cmp(skipInvalid, other.skipInvalid, "--skip-invalid")
        cmp(shuffle, other.shuffle, "--no-shuffle")
        cmp(evalSplit, other.evalSplit, "--eval-split")
        cmp(lr, other.lr, "--lr")
        cmp(lrSchedulerType, other.lrSchedulerType, "--lr-scheduler-type")
        cmp(warmupSteps, other.warmupSteps, "--warmup-steps")
        cmp(warmupRatio, other.warmupRatio, "--warmup-ratio")
        cmp(adamBeta1, other.adamBeta1, "--adam-beta1")
        cmp(adamBeta2, other.adamBeta2, "--adam-beta2")
        cmp(adamEpsilon, other.adamEpsilon, "--adam-epsilon")
        cmp(weightDecay, other.weightDecay, "--weight-decay")
        cmp(maxGradNorm, other.maxGradNorm, "--max-grad-norm")
        cmp(batchSize, other.batchSize, "--batch-size")
        cmp(gradAccum, other.gradAccum, "--grad-accum")
        cmp(epochs, other.epochs, "--epochs")
        cmp(maxSteps, other.maxSteps, "--max-steps")
        cmp(loggingSteps, other.loggingSteps, "--logging-steps")
        cmp(threads == 0 ? nil : threads, other.threads == 0 ? nil : other.threads, "--threads")
        return d
    }
}

public struct ArgumentError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
