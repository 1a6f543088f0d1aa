// The DPO training loop over LoRA adapters on the shared mapped base. It never prints: it reports typed
// events to a callback that answers `.more` or `.stop` (../shared/STYLE.md lesson 7); the CLI prints,
// writes metrics.jsonl and handles signals. Checkpoints make a stopped run resumable to the bit.

import Foundation
import Model
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
    public var gradNorm: Double
    public var learningRate: Double
    public var tokens: Int
    public var seconds: Double
}

public struct TrainerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

// MARK: - Trainer

public final class Trainer {
    public let arguments: TrainArguments
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
    /// TRL's num_tokens: prompt+chosen and prompt+rejected tokens of every trained micro-batch so far.
    public private(set) var totalTokens = 0
    /// Σ of the step losses so far (train_loss is this / steps).
    public private(set) var lossSum = 0.0
    public private(set) var collapseWatch: CollapseWatch
    private var reference: ReferenceLogps?
    private var evalReference: ReferenceLogps?
    private let pairsPerStep: Int
    private let stepsPerEpoch: Int
    /// Whether each pair's chosen and rejected share one pass over their common prompt (PairBatch). Off
    /// packs every sequence whole: the same results up to rounding, about a third more tokens computed on
    /// the benchmark data. Kept switchable for A/B measurement (tools/bench --ablate); set it before `run`.
    public var sharesPrompts = true

    /// Loads the model, the adapter (fresh, from `--init-adapter`, or from `resume`), the data, and plans
    /// the run. Nothing is computed yet.
    public init(arguments: TrainArguments, model: LlamaModel, context: TokenizationContext, resume: TrainingCheckpoint? = nil)
        throws
    {
        try arguments.validate()
        self.arguments = arguments
        self.model = model
        lossConfig = arguments.lossConfig
        collapseWatch = CollapseWatch(windows: arguments.collapseWindows)
        let options = arguments.dataOptions
        var trainSet = try PreferenceDataset.load(path: arguments.data, context: context, options: options)
        var evalSet: PreferenceDataset?
        if let e = arguments.evalData {
            evalSet = try PreferenceDataset.load(path: e, context: context, options: options)
        } else if let split = arguments.evalSplit {
            // A seeded split: the same pairs go to eval on every run with this seed.
            var order = Array(trainSet.pairs.indices)
            var rng = SplitMix64(seed: arguments.seed ^ 0x5EED_E7A1)
            order.shuffle(using: &rng)
            let n = max(1, Int((Double(order.count) * split).rounded()))
            guard n < order.count else { throw TrainerError("--eval-split \(split) leaves no training pairs") }
            let evalIdx = Set(order.prefix(n))
            var e = trainSet
            e.pairs = trainSet.pairs.indices.filter { evalIdx.contains($0) }.map { trainSet.pairs[$0] }
            e.summary.pairsKept = e.pairs.count
            trainSet.pairs = trainSet.pairs.indices.filter { !evalIdx.contains($0) }.map { trainSet.pairs[$0] }
            trainSet.summary.pairsKept = trainSet.pairs.count
            evalSet = e
        }
        train = trainSet
        eval = evalSet

        if let resume {
            adapter = try resume.makeAdapter(modelConfig: model.config)
        } else if let dir = arguments.initAdapter {
            adapter = try PEFTAdapter.load(directory: dir, modelConfig: model.config)
        } else {
            adapter = try LoRAAdapter(config: arguments.lora, modelConfig: model.config, seed: arguments.seed)
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
    public var dataKey: String { ReferenceCache.key(fingerprint: model.file.fingerprint, pairs: train.pairs) }

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

    /// Computes (or loads from the cache) the adapters-off log-probs of every train and eval pair. They are
    /// packed as the first epoch's micro-batches (and the eval batches), so with B = 0 the policy equals the
    /// reference bit for bit and a fresh adapter's first loss is exactly ln 2.
    /// A run shorter than one epoch scores only the pairs its steps will see (a 100-step run over 10,000
    /// pairs scores 400 of them, not all); pairs it never reaches keep 0.
    func prepareReference(_ events: (TrainerEvent) -> TrainerControl) throws {
        guard lossConfig.needsReference else { return }
        func get(_ pairs: [TokenizedPair], order: [Int], groupLimit: Int? = nil) throws -> ReferenceLogps {
            var groups = stride(from: 0, to: order.count, by: arguments.batchSize).map {
                Array(order[$0..<min(order.count, $0 + arguments.batchSize)])
            }
            if let limit = groupLimit, limit < groups.count { groups = Array(groups.prefix(limit)) }
            let scored = groups.reduce(0) { $0 + $1.count }
            let key = ReferenceCache.key(fingerprint: model.file.fingerprint, pairs: pairs, groups: groups, sharedPrompts: sharesPrompts)
            if let r = ReferenceCache.load(key: key), r.count == pairs.count {
                _ = events(.reference(done: scored, total: scored, cached: true))
                return r
            }
            let (r, _) = try withoutActuallyEscaping(events) { events in
                try PairScoring.score(pairs, model: model, adapter: nil, groups: groups, sharePrompts: sharesPrompts) { done, total in
                    _ = events(.reference(done: done, total: total, cached: false))
                }
            }
            ReferenceCache.store(r, key: key)
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
                if events(.log(values)) == .stop { stop = true }
                if let warning = collapseWatch.observe(values), events(.warning(warning)) == .stop { stop = true }
            }
            if stop { return }
            // --eval-steps 0: only at the end.
            if let e = eval, step == totalSteps || (arguments.evalSteps > 0 && step % arguments.evalSteps == 0) {
                let metrics = try evaluate(e.pairs, reference: evalReference)
                if events(.evaluated(step: step, metrics)) == .stop { return }
            }
            if arguments.saveSteps > 0, step % arguments.saveSteps == 0, step != totalSteps {
                if events(try save()) == .stop { return }
            }
        }
        if step > initialStep || !FileManager.default.fileExists(atPath: checkpointPath(step)) {
            _ = events(try save())
        }
        try PEFTAdapter.save(adapter, directory: arguments.output + "/adapter", baseModelName: model.file.metadata.provenance.sourceName)
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
        var lossSum = 0.0
        var accSum = 0.0
        var tokens = 0
        var micro = 0
        let accum = arguments.gradAccum
        for m in 0..<accum {
            let idx = microBatch(step: step, micro: m)
            if idx.isEmpty { continue }
            micro += 1
            let pb = PairBatch(
                pairs: idx.map { train.pairs[$0] }, wholeChosen: lossConfig.losses.contains { $0.kind == .orpo }, sharePrompts: sharesPrompts)
            let ref = reference?[idx]
            var result: LossResult?
            // --kl-estimate: the reference's head inputs at the same rows (a forward with the adapters off).
            let referenceHidden = arguments.klEstimate ? try model.referenceHeadInputs(batch: pb.batch, completionRanges: pb.ranges) : nil
            _ = try model.forwardBackward(
                batch: pb.batch, completionRanges: pb.ranges, adapter: adapter,
                dropoutSeed: arguments.seed ^ (UInt64(step) << 20 | UInt64(m)), referenceHidden: referenceHidden
            ) { lp in
                let r = DPOLoss.compute(Self.lossInputs(pb, lp, ref), config: lossConfig)
                result = r
                return pb.tokenGradients(r.gradient, scale: 1 / Double(accum))
            }
            guard let r = result else { continue }
            guard r.loss.isFinite else {
                throw TrainerError(
                    "loss is \(r.loss) at step \(step + 1) (pairs \(idx.map { train.pairs[$0].location.description }.joined(separator: ", "))); stopping without saving"
                )
            }
            lossSum += r.loss
            accSum += r.metrics[MetricKey.rewardsAccuracies] ?? 0
            tokens += pb.tokenCount
            totalTokens += pb.tokenCount
            window.append(r.metrics.merging(["loss": r.loss]) { a, _ in a })
        }
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
            gradNorm: norm, learningRate: lr, tokens: tokens, seconds: seconds)
    }

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
    public func evaluate(_ pairs: [TokenizedPair], reference: ReferenceLogps?) throws -> [(key: String, value: Double)] {
        var w = MetricsWindow()
        let b = arguments.batchSize
        for start in stride(from: 0, to: pairs.count, by: b) {
            let idx = Array(start..<min(pairs.count, start + b))
            let pb = PairBatch(
                pairs: idx.map { pairs[$0] }, wholeChosen: lossConfig.losses.contains { $0.kind == .orpo }, sharePrompts: sharesPrompts)
            let referenceHidden = arguments.klEstimate ? try model.referenceHeadInputs(batch: pb.batch, completionRanges: pb.ranges) : nil
            let lp = try model.sequenceLogProbs(
                batch: pb.batch, completionRanges: pb.ranges, adapter: adapter, referenceHidden: referenceHidden)
            let r = DPOLoss.compute(Self.lossInputs(pb, lp, reference?[idx]), config: lossConfig)
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
