// The DPO training loop over LoRA adapters on the shared mapped base. It never prints: it reports typed
// events to a callback that answers `.more` or `.stop`; the CLI prints, writes metrics.jsonl and handles
// signals. Checkpoints make a stopped run resumable to the bit.

import Adapters
import Foundation
@_spi(Benchmarks) import Model
import SeededRandom
import TensorFile

// MARK: - Events

public enum TrainerEvent {
    /// Data loaded: train and eval summaries, steps planned.
    case started(train: DataSummary, eval: DataSummary?, totalSteps: Int, startStep: Int, trainablePercent: Double)
    /// Reference log-probs: `done` of `total` pairs (`cached`: loaded from the reference cache).
    case reference(done: Int, total: Int, cached: Bool)
    /// One optimizer step finished.
    case step(StepReport)
    /// A logging window closed (`values` has TRL's names; `step` and `epoch` included).
    case log([(key: String, value: Double)])
    /// Held-out evaluation (keys `eval_*`).
    case evaluated(step: Int, [(key: String, value: Double)])
    case saved(path: String, info: CheckpointInfo, seconds: Double)
    /// A one-line hint about the run (the collapse warning).
    case warning(String)
    /// The end of training as the HF Trainer logs it: train_runtime, train_samples_per_second,
    /// train_steps_per_second, train_loss (mean step loss over the run), epoch, step.
    case summary([(key: String, value: Double)])
    case finished(step: Int)
}

public enum TrainerControl { case more, stop }

public struct StepReport: Sendable {
    public var step: Int
    public var totalSteps: Int
    public var epoch: Double
    public var loss: Double
    public var rewardAccuracy: Double
    /// KTO: the mean over the step's micro-batches of their KL estimates; nil for the paired losses.
    public var kl: Double?
    public var gradNorm: Double
    public var learningRate: Double
    public var tokens: Int
    public var seconds: Double
}

public struct TrainerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

// MARK: - Inputs

/// What a run reads before it may touch its output directory: the training and eval data, tokenized and
/// validated, and the `--init-adapter` if any. The CLI loads these first, so a bad input is reported
/// before anything in the output directory is created, replaced or deleted.
public struct TrainerInputs {
    public var train: PreferenceDataset
    public var eval: PreferenceDataset?
    public var initAdapter: LoRAAdapter?

    public static func load(arguments: TrainArguments, model: LlamaModel, context: TokenizationContext) throws -> TrainerInputs {
        try arguments.validate()
        let options = arguments.dataOptions
        /// The seeded split: the same records go to eval on every run with this seed (indices into `count`).
        func split(_ count: Int, _ fraction: Double) throws -> (train: [Int], eval: [Int]) {
            var order = Array(0..<count)
            var rng = SplitMix64(seed: arguments.seed ^ 0x5EED_E7A1)
            order.shuffle(using: &rng)
            let n = max(1, Int((Double(order.count) * fraction).rounded()))
            guard n < order.count else { throw TrainerError("--eval-split \(fraction) leaves no training pairs") }
            let evalIdx = Set(order.prefix(n))
            return ((0..<count).filter { !evalIdx.contains($0) }, (0..<count).filter { evalIdx.contains($0) })
        }
        var trainSet: PreferenceDataset
        var evalSet: PreferenceDataset?
        if let kind = arguments.lossConfig.losses.first?.kind, kind.isUnpaired {
            // KTO: the KL completions are built per batch after any split, so they pair neighbours the run sees.
            let withKL = KTOLoss.needsKL(kind)
            var t = try UnpairedDataset.load(path: arguments.data, context: context, options: options)
            var e = try arguments.evalData.map { try UnpairedDataset.load(path: $0, context: context, options: options) }
            if let fraction = arguments.evalSplit {
                let (ti, ei) = try split(t.examples.count, fraction)
                e = t.subset(ei)
                t = t.subset(ti)
            }
            trainSet = t.scoringDataset(batchSize: arguments.batchSize, withKL: withKL, options: options)
            evalSet = e?.scoringDataset(batchSize: arguments.batchSize, withKL: withKL, options: options)
        } else {
            trainSet = try PreferenceDataset.load(path: arguments.data, context: context, options: options)
            if let e = arguments.evalData {
                evalSet = try PreferenceDataset.load(path: e, context: context, options: options)
            } else if let fraction = arguments.evalSplit {
                let (ti, ei) = try split(trainSet.pairs.count, fraction)
                var e = trainSet
                e.pairs = ei.map { trainSet.pairs[$0] }
                e.summary.pairsKept = e.pairs.count
                trainSet.pairs = ti.map { trainSet.pairs[$0] }
                trainSet.summary.pairsKept = trainSet.pairs.count
                evalSet = e
            }
        }
        let initial = try arguments.initAdapter.map { try PEFTAdapter.load(directory: $0, modelConfig: model.config) }
        return TrainerInputs(train: trainSet, eval: evalSet, initAdapter: initial)
    }

    /// `arguments` with the LoRA config the run really trains: an initial adapter's (r, alpha, rsLoRA,
    /// dropout and targets from its adapter_config.json) replaces `--lora-*`.
    public func effectiveArguments(_ arguments: TrainArguments) -> TrainArguments {
        guard let a = initAdapter else { return arguments }
        var out = arguments
        out.lora = a.config
        return out
    }

    /// What `effectiveArguments` changed, as option names with the adapter's values ("--lora-r 8"), for a note.
    public func overriddenOptions(_ arguments: TrainArguments) -> [String] {
        guard let a = initAdapter else { return [] }
        var out: [String] = []
        if a.config.r != arguments.lora.r { out.append("--lora-r \(a.config.r)") }
        if a.config.targets != arguments.lora.targets { out.append("--lora-targets \(a.config.targets.map(\.rawValue).joined(separator: ","))") }
        if a.config.alpha != arguments.lora.alpha { out.append("--lora-alpha \(a.config.alpha)") }
        if a.config.rslora != arguments.lora.rslora { out.append("--rslora \(a.config.rslora)") }
        if a.config.dropout != arguments.lora.dropout { out.append("--lora-dropout \(a.config.dropout)") }
        return out
    }
}

// MARK: - Trainer

public final class Trainer {
    public let arguments: TrainArguments
    /// The other processes of a data-parallel run; nil for one process.
    public let group: ProcessGroup?
    /// Whether this process writes files (checkpoints, the adapter): rank 0, or the only process.
    public var isWriter: Bool { (group?.rank ?? 0) == 0 }
    public let model: LlamaModel
    public let adapter: LoRAAdapter
    public let train: PreferenceDataset
    public let eval: PreferenceDataset?
    public let lossConfig: LossConfig
    public private(set) var optimizer: AdamW
    public let schedule: LRSchedule
    public let totalSteps: Int
    public private(set) var step = 0
    /// Pending micro-batch metrics of the open logging window (saved in checkpoints so logs resume exactly).
    private var window: [[String: Double]] = []
    /// What a resumed run changed from its checkpoint's arguments (a longer run, another cadence), each as
    /// `name old → new`; empty for a fresh run or an unchanged resume.
    public private(set) var resumeChanges: [String] = []
    /// The last logged training row and evaluation row, for the saved adapter's model card.
    private var lastLogged: [(key: String, value: Double)] = []
    private var lastEvaluated: [(key: String, value: Double)] = []
    /// TRL's num_tokens: prompt+chosen and prompt+rejected tokens of every trained micro-batch so far.
    public private(set) var totalTokens = 0
    /// Σ of the step losses so far (train_loss is this / steps).
    public private(set) var lossSum = 0.0
    public private(set) var collapseWatch: CollapseWatch
    private var reference: ReferenceLogps?
    private var evalReference: ReferenceLogps?
    /// The reference model's adapter: the initial adapter, frozen (`--reference initial` with `--init-adapter`);
    /// nil when the reference is the base. Kept after the reference pass only for `--kl-estimate`.
    private var referenceAdapter: LoRAAdapter?
    /// `ReferenceCache.adapterKey` of that adapter, taken before any step (part of the cache key and of
    /// checkpoints, so a resume cannot silently compare with other values); nil for the base.
    public let referenceKey: String?
    private let pairsPerStep: Int
    private let stepsPerEpoch: Int
    /// Whether each pair's chosen and rejected share one pass over their common prompt (PairBatch): on
    /// unless the model was built with that benchmark switch off (tools/bench --ablate).
    var sharesPrompts: Bool { model.switches.sharesPrompts }

    /// Loads the inputs (data, `--init-adapter`) and plans the run; see `init(arguments:model:inputs:resume:group:)`.
    public convenience init(
        arguments: TrainArguments, model: LlamaModel, context: TokenizationContext, resume: TrainingCheckpoint? = nil,
        group: ProcessGroup? = nil
    ) throws {
        let inputs = try TrainerInputs.load(arguments: arguments, model: model, context: context)
        try self.init(arguments: arguments, model: model, inputs: inputs, resume: resume, group: group)
    }

    /// Plans the run over inputs already read and validated: the adapter is fresh, `inputs.initAdapter`,
    /// or `resume`'s. With an initial adapter `arguments` records the adapter's LoRA shape (r, alpha,
    /// rsLoRA, dropout, targets), whatever `--lora-*` said, since that is the shape trained.
    /// With a `group` of N processes, `arguments.gradAccum` is the global count (N × each rank's) and
    /// this rank computes its N-th of every step's micro-batches (see DataParallel).
    public init(
        arguments: TrainArguments, model: LlamaModel, inputs: TrainerInputs, resume: TrainingCheckpoint? = nil, group: ProcessGroup? = nil
    ) throws {
        try arguments.validate()
        if let group, arguments.gradAccum % group.size != 0 {
            throw TrainerError("grad_accum \(arguments.gradAccum) does not split over \(group.size) processes")
        }
        self.group = group
        let arguments = inputs.effectiveArguments(arguments)
        self.arguments = arguments
        self.model = model
        if let budget = arguments.memoryBudget { model.keptActivationBytes = budget }
        lossConfig = arguments.lossConfig
        collapseWatch = CollapseWatch(windows: arguments.collapseWindows)
        train = inputs.train
        eval = inputs.eval

        if let resume {
            adapter = try resume.makeAdapter(modelConfig: model.config)
        } else if let initial = inputs.initAdapter {
            adapter = initial
        } else {
            adapter = try LoRAAdapter(config: arguments.lora, modelConfig: model.config, seed: arguments.seed)
        }
        if arguments.reference == .initial, let initial = inputs.initAdapter {
            // A fresh run trains `initial` itself: the reference pass runs before the first step, but the KL
            // estimate's forward at every step needs a copy frozen at the start.
            referenceAdapter = resume == nil && arguments.klEstimate ? try initial.copy() : initial
            referenceKey = ReferenceCache.adapterKey(initial)
        } else {
            referenceAdapter = nil
            referenceKey = nil
        }
        optimizer = AdamW(
            parameterCount: adapter.parameterCount, beta1: arguments.adamBeta1, beta2: arguments.adamBeta2,
            eps: arguments.adamEpsilon, weightDecay: arguments.weightDecay)
        pairsPerStep = arguments.batchSize * arguments.gradAccum
        stepsPerEpoch = max(1, (train.pairs.count + pairsPerStep - 1) / pairsPerStep)
        totalSteps = arguments.maxSteps > 0 ? arguments.maxSteps : Int((arguments.epochs * Double(stepsPerEpoch)).rounded(.up))
        let warmup: LRSchedule.Warmup = arguments.warmupSteps > 0 ? .steps(arguments.warmupSteps) : .ratio(arguments.warmupRatio)
        schedule = LRSchedule(kind: arguments.lrSchedulerType, baseLR: arguments.lr, totalSteps: totalSteps, warmup: warmup)

        if let resume {
            resumeChanges = try resume.check(against: self)
            try optimizer.restore(resume.optimizerState)
            step = resume.state.step
            window = resume.state.window
            totalTokens = resume.state.totalTokens ?? 0
            lossSum = resume.state.lossSum ?? 0
            if var watch = resume.state.collapseWatch {
                watch.windows = arguments.collapseWindows
                collapseWatch = watch
            }
        }
    }

    /// The hash of the tokenized training data (part of the reference-cache key and of checkpoints).
    /// Unpaired data adds its labels (they change the loss but not the reference log-probs).
    public var dataKey: String {
        let key = ReferenceCache.key(fingerprint: model.file.fingerprint, pairs: train.pairs)
        guard let labels = train.labels else { return key }
        var h = XXHash64()
        h.update(Array("unpaired-labels|\(key)|".utf8))
        h.update(labels.map { $0 ? UInt8(1) : 0 })
        return XXHash64.hex(h.finalize())
    }

    // MARK: - Data order

    /// The training pairs of micro-batch `micro` of optimizer step `step`: epoch e's order is a permutation
    /// seeded by (seed, e), so any position can be recomputed after a resume without saved RNG state.
    func microBatch(step: Int, micro: Int) -> [Int] {
        let n = train.pairs.count
        let first = step * pairsPerStep + micro * arguments.batchSize
        let epoch = first / (stepsPerEpoch * pairsPerStep)
        let order = epochOrder(epoch)
        let inEpoch = first - epoch * stepsPerEpoch * pairsPerStep
        guard inEpoch < n else { return [] }
        return Array(order[inEpoch..<min(n, inEpoch + arguments.batchSize)])
    }

    private var cachedOrder: (epoch: Int, order: [Int])?

    func epochOrder(_ epoch: Int) -> [Int] {
        if let c = cachedOrder, c.epoch == epoch { return c.order }
        var order = Array(train.pairs.indices)
        if arguments.shuffle {
            var rng = SplitMix64(seed: arguments.seed &+ UInt64(epoch) &* 0x9E37_79B9)
            order.shuffle(using: &rng)
        }
        cachedOrder = (epoch, order)
        return order
    }

    public func epoch(atStep s: Int) -> Double { Double(s) / Double(stepsPerEpoch) }

    // MARK: - Reference

    /// Computes (or loads from the cache) the reference log-probs of every train and eval pair: the base with
    /// adapters off, or base + the frozen initial adapter. They are packed as the first epoch's micro-batches
    /// (and the eval batches), so at the first step the policy equals the reference bit for bit and its loss is
    /// exactly ln 2 (a fresh adapter, B = 0, or an initial adapter that is also the reference).
    /// A run shorter than one epoch scores only the pairs its steps will see (a 100-step run over 10,000
    /// pairs scores 400 of them, not all); pairs it never reaches keep 0.
    func prepareReference(_ events: (TrainerEvent) -> TrainerControl) throws {
        // After the pass the frozen adapter is needed only by the KL estimate.
        defer { if !arguments.klEstimate { referenceAdapter = nil } }
        guard lossConfig.needsReference else { return }
        try ReferenceCache.ensureVerified(model.file)
        func get(_ pairs: [TokenizedPair], order: [Int], groupLimit: Int? = nil) throws -> ReferenceLogps {
            var groups = stride(from: 0, to: order.count, by: arguments.batchSize).map {
                Array(order[$0..<min(order.count, $0 + arguments.batchSize)])
            }
            if let limit = groupLimit, limit < groups.count { groups = Array(groups.prefix(limit)) }
            let scored = groups.reduce(0) { $0 + $1.count }
            // The cache holds the shipped packing's log-probs only: a run with prompt sharing switched off
            // neither reads nor writes it, so the key does not depend on a benchmark switch.
            let key =
                sharesPrompts ? ReferenceCache.key(fingerprint: model.file.fingerprint, pairs: pairs, groups: groups, adapter: referenceKey) : nil
            let cached = key.flatMap { ReferenceCache.load(key: $0, count: pairs.count) }
            // Every rank scores only if one of them lacks the cache (each machine has its own).
            let missing = try group.map { try DataParallel.any(cached == nil, group: $0) } ?? (cached == nil)
            if let cached, !missing {
                _ = events(.reference(done: scored, total: scored, cached: true))
                return cached
            }
            // With N processes each scores every N-th group, and all of them receive every pair's sums.
            let mine = group.map { g in groups.enumerated().filter { $0.offset % g.size == g.rank }.map(\.element) } ?? groups
            var (r, _) = try withoutActuallyEscaping(events) { events in
                try PairScoring.score(pairs, model: model, adapter: referenceAdapter, groups: mine, sharePrompts: sharesPrompts) { done, total in
                    _ = events(.reference(done: done, total: total, cached: false))
                }
            }
            if let group {
                let rows = mine.joined().map { i in
                    ["i": Double(i), "c": r.chosen[i], "r": r.rejected[i], "ct": r.chosenTail[i], "rt": r.rejectedTail[i]]
                }
                for row in try DataParallel.gatherRows(rows, group: group) {
                    let i = Int(row["i"]!)
                    (r.chosen[i], r.rejected[i], r.chosenTail[i], r.rejectedTail[i]) = (row["c"]!, row["r"]!, row["ct"]!, row["rt"]!)
                }
            }
            if let key { ReferenceCache.store(r, key: key) }
            return r
        }
        // Epoch 0's micro-batch k is group k; steps past the first epoch need every group.
        let groupsUsed = totalSteps < stepsPerEpoch ? totalSteps * arguments.gradAccum : nil
        reference = try get(train.pairs, order: epochOrder(0), groupLimit: groupsUsed)
        if let e = eval { evalReference = try get(e.pairs, order: Array(e.pairs.indices)) }
    }

    // MARK: - Loop

    public func run(_ events: (TrainerEvent) -> TrainerControl) throws {
        let trainable = Double(adapter.parameterCount) / Double(model.file.tensors.reduce(0) { $0 + $1.elementCount })
        if events(
            .started(
                train: train.summary, eval: eval?.summary, totalSteps: totalSteps, startStep: step,
                trainablePercent: 100 * trainable)) == .stop
        {
            return
        }
        try prepareReference(events)
        let initialStep = step
        let runStart = DispatchTime.now().uptimeNanoseconds
        while step < totalSteps {
            let report = try trainStep()
            step += 1
            lossSum += report.loss
            var stop = events(.step(report)) == .stop
            // A due log is written even when stopping, so a checkpoint never carries a window that an
            // uninterrupted run would already have logged (a resume then logs exactly the same lines).
            if step % arguments.loggingSteps == 0 || step == totalSteps {
                var w = MetricsWindow()
                for m in window { w.add(m) }
                window = []
                let values =
                    [("step", Double(step)), ("epoch", epoch(atStep: step))] + w.flush() + [(MetricKey.numTokens, Double(totalTokens))]
                lastLogged = values
                if events(.log(values)) == .stop { stop = true }
                if let warning = collapseWatch.observe(values), events(.warning(warning)) == .stop { stop = true }
            }
            // Every process stops at the same step, or the others would wait for it forever.
            if let group, group.size > 1 { stop = try DataParallel.any(stop, group: group) }
            if stop { return }
            // --eval-steps 0: only at the end. Only the writer evaluates and saves; the others go on to the
            // next step's exchange and wait for it there.
            if isWriter, let e = eval, step == totalSteps || (arguments.evalSteps > 0 && step % arguments.evalSteps == 0) {
                let metrics = try evaluate(e.pairs, labels: e.labels, reference: evalReference)
                lastEvaluated = metrics
                if events(.evaluated(step: step, metrics)) == .stop { stop = true }
            }
            if isWriter, arguments.saveSteps > 0, step % arguments.saveSteps == 0, step != totalSteps {
                if events(try save()) == .stop { stop = true }
            }
            if let group, group.size > 1 { stop = try DataParallel.any(stop, group: group) }
            if stop { return }
        }
        guard isWriter else {
            _ = events(.finished(step: step))
            return
        }
        if step > initialStep || !FileManager.default.fileExists(atPath: checkpointPath(step)) {
            _ = events(try save())
        }
        try SavedAdapter.write(
            adapter, to: arguments.output + "/adapter", baseFile: model.file,
            run: RunSummary(
                arguments: RunSummary.rows(of: arguments), data: arguments.data, evalData: arguments.evalData, steps: step,
                metrics: lastLogged, evalMetrics: lastEvaluated))
        let runtime = Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9
        // The HF Trainer's speed metrics count the whole planned run (even when resumed) over this session's time.
        _ = events(
            .summary([
                (MetricKey.trainRuntime, runtime),
                ("train_samples_per_second", Double(totalSteps * pairsPerStep) / max(runtime, 1e-9)),
                ("train_steps_per_second", Double(totalSteps) / max(runtime, 1e-9)),
                (MetricKey.trainLoss, step > 0 ? lossSum / Double(step) : 0),
                ("epoch", epoch(atStep: step)), ("step", Double(step)),
            ]))
        _ = events(.finished(step: step))
    }

    /// One optimizer step: grad-accum micro-batches of forward+backward, clip, AdamW.
    func trainStep() throws -> StepReport {
        let start = DispatchTime.now().uptimeNanoseconds
        adapter.zeroGradients()
        var rows: [[String: Double]] = []
        let accum = arguments.gradAccum
        // One process with one micro-batch accumulates straight into the adapter's gradients. Otherwise each
        // micro-batch's gradient is kept apart and added in global micro-batch order (DataParallel), so N
        // processes give the bits of one process with the same global grad-accum.
        let separate = accum > 1 || group != nil
        var kept: [[Float]] = []
        let perRank = accum / (group?.size ?? 1)
        let first = (group?.rank ?? 0) * perRank
        for m in first..<(first + perRank) {
            let idx = microBatch(step: step, micro: m)
            if idx.isEmpty { continue }
            if separate { adapter.zeroGradients() }
            let pb = PairBatch(
                pairs: idx.map { train.pairs[$0] }, wholeChosen: lossConfig.losses.contains { $0.kind == .orpo }, sharePrompts: sharesPrompts)
            let ref = reference?[idx]
            let labels = train.labels.map { l in idx.map { l[$0] } }
            var result: (loss: Double, gradient: LossGradient, metrics: [String: Double])?
            // --kl-estimate: the reference's head inputs at the same rows (a forward of the reference model).
            let referenceHidden =
                arguments.klEstimate
                ? try model.referenceHeadInputs(batch: pb.batch, completionRanges: pb.ranges, adapter: referenceAdapter) : nil
            _ = try model.forwardBackward(
                batch: pb.batch, completionRanges: pb.ranges, adapter: adapter,
                dropoutSeed: arguments.seed ^ (UInt64(step) << 20 | UInt64(m)), referenceHidden: referenceHidden
            ) { lp in
                let r = Self.loss(pb, lp, ref, labels: labels, config: lossConfig)
                result = r
                return pb.tokenGradients(r.gradient, scale: 1 / Double(accum))
            }
            guard let r = result else { continue }
            guard r.loss.isFinite else {
                throw TrainerError(
                    "loss is \(r.loss) at step \(step + 1) (pairs \(idx.map { train.pairs[$0].location.description }.joined(separator: ", "))); stopping without saving"
                )
            }
            rows.append(r.metrics.merging(["loss": r.loss, Self.tokensKey: Double(pb.tokenCount)]) { a, _ in a })
            if separate { kept.append(Array(adapter.gradients)) }
        }
        if separate {
            try withUnsafeBuffers(kept) { try DataParallel.orderedSum($0, into: adapter.gradients, group: group) }
            if let group, group.size > 1 { rows = try DataParallel.gatherRows(rows, group: group) }
        }
        var lossSum = 0.0
        var accSum = 0.0
        var klSum = 0.0
        var tokens = 0
        for var row in rows {
            lossSum += row["loss"] ?? 0
            accSum += row[MetricKey.rewardsAccuracies] ?? 0
            klSum += row[MetricKey.kl] ?? 0
            tokens += Int(row.removeValue(forKey: Self.tokensKey) ?? 0)
            window.append(row)
        }
        totalTokens += tokens
        let micro = rows.count
        let grads = UnsafeBufferPointer(adapter.gradients)
        let norm = GradientClipping.globalNorm(grads)
        guard norm.isFinite else { throw TrainerError("gradient norm is \(norm) at step \(step + 1); stopping without saving") }
        if arguments.maxGradNorm > 0 { _ = GradientClipping.clip(adapter.gradients, maxNorm: arguments.maxGradNorm) }
        let lr = schedule.lr(at: step)
        optimizer.update(parameters: adapter.parameters, gradients: UnsafeBufferPointer(adapter.gradients), lr: lr)
        // grad_norm and learning_rate are per optimizer step in the HF Trainer's logs.
        if !window.isEmpty {
            window[window.count - 1]["grad_norm"] = norm
            window[window.count - 1]["learning_rate"] = lr
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let n = Double(max(1, micro))
        return StepReport(
            step: step + 1, totalSteps: totalSteps, epoch: epoch(atStep: step + 1), loss: lossSum / n, rewardAccuracy: accSum / n,
            kl: train.labels == nil ? nil : klSum / n, gradNorm: norm, learningRate: lr, tokens: tokens, seconds: seconds)
    }

    /// The loss of a packed micro-batch, its gradient and metrics: DPOLoss on pairs; KTOLoss on unpaired
    /// examples (`labels`), whose pairs hold (completion, KL completion) and whose KL sums get no gradient.
    public static func loss(_ pb: PairBatch, _ lp: SequenceLogProbs, _ ref: ReferenceLogps?, labels: [Bool]?, config: LossConfig) -> (
        loss: Double, gradient: LossGradient, metrics: [String: Double]
    ) {
        guard let labels else {
            let r = DPOLoss.compute(lossInputs(pb, lp, ref), config: config)
            return (r.loss, r.gradient, r.metrics)
        }
        let r = KTOLoss.compute(ktoInputs(pb, lp, ref, labels: labels, config: config), config: config)
        let zero = [Double](repeating: 0, count: pb.count)
        let g = LossGradient(
            dPolicyChosen: r.dPolicy, dPolicyRejected: zero, dPolicyChosenTail: zero, dPolicyRejectedTail: zero, dPolicyChosenSequence: zero)
        return (r.loss, g, r.metrics)
    }

    /// The KTO inputs of a packed micro-batch of (completion, KL completion) pairs.
    public static func ktoInputs(_ pb: PairBatch, _ lp: SequenceLogProbs, _ ref: ReferenceLogps?, labels: [Bool], config: LossConfig)
        -> KTOInputs
    {
        precondition(ref != nil, "KTO needs reference log-probs")
        let s = pb.sums(lp)
        let withKL = config.losses.contains { KTOLoss.needsKL($0.kind) }
        var inputs = KTOInputs(
            policy: s.chosen, reference: ref?.chosen ?? [], policyKL: withKL ? s.rejected : nil, referenceKL: withKL ? ref?.rejected : nil,
            labels: labels)
        inputs.logitSums = s.chosenLogitSums
        inputs.scoredTokens = pb.pairs.map(\.chosen.scoredTokens)
        return inputs
    }

    /// A micro-batch's token count travels with its metrics between processes under this key, then leaves.
    static let tokensKey = "_tokens"

    /// The loss inputs of a packed micro-batch: the policy's per-pair sums from `lp`, the reference's from `ref`.
    public static func lossInputs(_ pb: PairBatch, _ lp: SequenceLogProbs, _ ref: ReferenceLogps?) -> LossInputs {
        let s = pb.sums(lp)
        var inputs = LossInputs(
            pairs: pb.pairs, policyChosen: s.chosen, policyRejected: s.rejected, referenceChosen: ref?.chosen,
            referenceRejected: ref?.rejected)
        inputs.policyChosenTail = s.chosenTail
        inputs.policyRejectedTail = s.rejectedTail
        inputs.referenceChosenTail = ref?.chosenTail
        inputs.referenceRejectedTail = ref?.rejectedTail
        inputs.policyChosenSequence = s.chosenSequence
        inputs.chosenLogitSums = s.chosenLogitSums
        inputs.rejectedLogitSums = s.rejectedLogitSums
        if s.chosenEntropySums.count == pb.count {
            inputs.chosenEntropySums = s.chosenEntropySums
            inputs.rejectedEntropySums = s.rejectedEntropySums
            inputs.chosenTop1 = s.chosenTop1
            inputs.chosenAlignedSums = s.chosenAlignedSums
            inputs.rejectedAlignedSums = s.rejectedAlignedSums
        }
        if !lp.tokenKL.isEmpty {
            inputs.chosenKLSums = s.chosenKLSums
            inputs.rejectedKLSums = s.rejectedKLSums
        }
        return inputs
    }

    // MARK: - Evaluation

    /// TRL's metrics over `pairs` with the current adapter, `eval_`-prefixed, averaged over micro-batches
    /// of `batchSize` pairs as TRL's evaluation loop does.
    public func evaluate(_ pairs: [TokenizedPair], labels: [Bool]? = nil, reference: ReferenceLogps?) throws -> [(key: String, value: Double)] {
        var w = MetricsWindow()
        let b = arguments.batchSize
        for start in stride(from: 0, to: pairs.count, by: b) {
            let idx = Array(start..<min(pairs.count, start + b))
            let pb = PairBatch(
                pairs: idx.map { pairs[$0] }, wholeChosen: lossConfig.losses.contains { $0.kind == .orpo }, sharePrompts: sharesPrompts)
            let referenceHidden =
                arguments.klEstimate
                ? try model.referenceHeadInputs(batch: pb.batch, completionRanges: pb.ranges, adapter: referenceAdapter) : nil
            let lp = try model.sequenceLogProbs(
                batch: pb.batch, completionRanges: pb.ranges, adapter: adapter, referenceHidden: referenceHidden)
            let r = Self.loss(pb, lp, reference?[idx], labels: labels.map { l in idx.map { l[$0] } }, config: lossConfig)
            w.add(r.metrics.merging(["loss": r.loss]) { a, _ in a })
        }
        return w.flush(eval: true) + [("eval_" + MetricKey.numTokens, Double(totalTokens))]
    }

    // MARK: - Checkpoints

    public func checkpointPath(_ step: Int) -> String { arguments.output + "/checkpoint-\(step)" }

    /// Saves the current step (after an interruption) unless that checkpoint already exists.
    public func saveIfNeeded() throws -> TrainerEvent? {
        guard step > 0, !FileManager.default.fileExists(atPath: checkpointPath(step)) else { return nil }
        return try save()
    }

    /// Writes checkpoint-STEP atomically, then removes the oldest beyond `--save-total-limit`.
    func save() throws -> TrainerEvent {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let path = checkpointPath(step)
        try FileManager.default.createDirectory(atPath: arguments.output, withIntermediateDirectories: true)
        let info = try TrainingCheckpoint.write(path: path, trainer: self, window: window)
        TrainingCheckpoint.prune(directory: arguments.output, keep: arguments.saveTotalLimit)
        return .saved(path: path, info: info, seconds: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
}
