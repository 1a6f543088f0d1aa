// The reference job: LoRA DPO (sigmoid loss) with the Trainer on the benchmark pairs, a few measured steps.
// Times come from the Trainer's own `.step` events; the first step is reported but left out of the
// median and the rates (it pays for page faults and first-touch allocation). The reference cache is
// pointed at an empty temporary directory so the reference pass is measured every run.

import ArgumentParser
import Foundation
@_spi(Benchmarks) import Model
import SeededRandom
import TensorFile
import Training

struct TrainJob: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "The reference training job.")

    @OptionGroup var options: JobOptions
    @Option(help: "Optimizer steps (the first is excluded from the median).") var steps = 6
    @Flag(help: "Stop right after the last step, before the trainer writes its final checkpoint and adapter.")
    var noFinalSave = false
    @Option(help: "The trainer's --memory-budget: memory for kept layer activations (e.g. 2G, 512M, 0, auto).")
    var memoryBudget: String?
    @OptionGroup var ablation: Ablation

    func validate() throws {
        guard steps >= 2 else { throw ValidationError("--steps must be ≥ 2 (the first step is not measured)") }
    }

    func run() throws {
        let loadStart = LoadAverage.read()
        let residentAtStart = FileResidency.residentBytes(options.model)
        let sampler = AnonPeakSampler()
        let scratch = try temporaryDirectory("leandpo-bench")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        setenv("LEANDPO_CACHE", scratch + "/cache", 1)

        // ---- load: mapping, tokenizer, model
        var t0 = ProcessClock.now()
        let file = try MappedTensorFile(path: options.model)
        let text = try ModelText(file.metadata)
        let model = try LlamaModel(file: file, threads: options.threads, switches: ablation.switches)
        options.applyComputeDType(model)
        let loadSeconds = ProcessClock.seconds(since: t0)

        // ---- trainer: data, tokenization, adapter
        try FileManager.default.createDirectory(atPath: scratch + "/run", withIntermediateDirectories: true)
        var args = TrainArguments(model: options.model, data: options.data, output: scratch + "/run")
        args.lora = LoRAConfig(r: options.loraR, alpha: options.loraAlpha)
        args.loss = [.sigmoid]
        args.beta = 0.1
        args.maxLength = options.maxLength
        args.batchSize = options.pairsPerStep
        args.gradAccum = 1
        args.maxSteps = steps
        args.threads = options.threads
        args.seed = options.seed
        args.loggingSteps = steps
        if let m = memoryBudget {
            _ = try TrainOptions.apply(TrainOptions.parseCommandLine(["--memory-budget", m]), to: &args, source: "--memory-budget")
        }
        t0 = ProcessClock.now()
        let trainer = try Trainer(arguments: args, model: model, context: text.context)
        let prepareSeconds = ProcessClock.seconds(since: t0)

        // ---- run
        var reports: [StepReport] = []
        var referenceSeconds: Double?
        var firstStepAt: Double?
        var saveSeconds = 0.0
        var started = ProcessClock.now()
        var cpuMark = ProcessClock.cpuSeconds()
        var stepCPU: [Double] = []
        var keptLayers: [Int] = []  // per step, layers not recomputed (one micro-batch per step)
        try trainer.run { event in
            switch event {
            case .started:
                started = ProcessClock.now()
            case .reference(let done, let total, let cached):
                if done == total {
                    cpuMark = ProcessClock.cpuSeconds()
                    referenceSeconds = cached ? 0 : ProcessClock.seconds(since: started)
                    note(String(format: "reference pass: %d pairs in %.2f s", total, referenceSeconds!))
                }
            case .step(let r):
                if reports.isEmpty { firstStepAt = ProcessClock.sinceStart() }
                let cpu = ProcessClock.cpuSeconds()
                stepCPU.append(cpu - cpuMark)
                cpuMark = cpu
                reports.append(r)
                keptLayers.append(model.keptLayers)
                note(String(format: "step %d/%d: %.3f s, %d tokens, loss %.6f", r.step, r.totalSteps, r.seconds, r.tokens, r.loss))
                if noFinalSave && r.step == steps { return .stop }
            case .saved(_, _, let seconds):
                saveSeconds += seconds
            default:
                break
            }
            return .more
        }
        guard reports.count == steps else { throw BenchError("the trainer stopped after \(reports.count) of \(steps) steps") }
        let peakAnon = sampler.stop()
        let peakRSS = ProcStatus.peakResident

        // ---- FLOPs of each step, from the step's pairs
        let flops = FlopCount(config: model.config, lora: args.lora)
        var stepParts: [FlopCount.Parts] = []
        var scored: [Int] = []
        var stream: [Int] = []
        for (s, r) in reports.enumerated() {
            let pairs = StepPlan.pairs(step: s, trainer: trainer)
            let pb = PairBatch(pairs: pairs, sharePrompts: model.switches.sharesPrompts)
            guard pb.tokenCount == r.tokens else {
                throw BenchError(
                    "step \(s + 1): the reconstructed batch has \(pb.tokenCount) tokens, the trainer reported \(r.tokens); StepPlan no longer follows Trainer's data order"
                )
            }
            let p = pb.ranges.reduce(0) { $0 + $1.count }
            scored.append(p)
            stream.append(pb.batch.tokenCount)
            stepParts.append(flops.trainingStep(segments: FlopCount.segments(pb.batch), scored: p, kept: keptLayers[s]))
        }

        // ---- sgemm ceiling, measured after the job so it does not delay the first step
        let peak = SgemmPeak.measure(threads: options.threads)

        let measured = Array(reports.dropFirst())
        let seconds = measured.map(\.seconds)
        let secondsSum = seconds.reduce(0, +)
        let tokensSum = measured.reduce(0) { $0 + $1.tokens }
        let flopsMeasured = stepParts.dropFirst().reduce(0) { $0 + $1.total }
        let matmulGFLOPS = flopsMeasured / secondsSum / 1e9
        let partsMean = stepParts.dropFirst().reduce(FlopCount.Parts(), +)
        let n = Double(measured.count)

        var line = JSONLine()
        line.add("job", .string("train"))
        line.add("variant", .string(ablation.name))
        line.add(options.header(file: ModelFileInfo(file)))
        line.add([
            ("pairs_per_step", .int(options.pairsPerStep)), ("max_length", .int(options.maxLength)),
            ("lora", .string("r\(options.loraR) alpha\(formatNumber(options.loraAlpha)) q,k,v,o,gate,up,down")),
            ("loss", .string("sigmoid")), ("steps", .int(steps)), ("measured_steps", .int(measured.count)),
            ("sec_per_step_median", .number(median(seconds), digits: 3)),
            ("sec_per_step_min", .number(seconds.min() ?? 0, digits: 3)),
            ("cpu_sec_per_step_median", .number(median(Array(stepCPU.dropFirst())), digits: 3)),
            ("cpu_utilization", .number(stepCPU.dropFirst().reduce(0, +) / secondsSum / Double(options.threads), digits: 2)),
            ("tokens_per_step", .number(Double(tokensSum) / n, digits: 1)),
            ("stream_tokens_per_step", .number(Double(stream.dropFirst().reduce(0, +)) / n, digits: 1)),
            ("scored_tokens_per_step", .number(Double(scored.dropFirst().reduce(0, +)) / n, digits: 1)),
            ("tokens_per_s", .number(Double(tokensSum) / secondsSum, digits: 1)),
            ("matmul_gflop_per_step", .number(flopsMeasured / n / 1e9, digits: 2)),
            (
                "matmul_gflop_by_kind",
                FlopCount.Parts(
                    frozen: partsMean.frozen / n, lora: partsMean.lora / n, attention: partsMean.attention / n, head: partsMean.head / n
                ).fields
            ),
            ("matmul_gflops", .number(matmulGFLOPS, digits: 2)),
            ("sgemm_peak_gflops", .number(peak.best, digits: 2)),
            ("sgemm_peak_by_shape", .object(peak.perShape.map { ($0.0.description, .number($0.1, digits: 2)) })),
            ("mfu", .number(matmulGFLOPS / peak.best, digits: 3)),
            ("matmul_gflop_per_cpu_s", .number(flopsMeasured / stepCPU.dropFirst().reduce(0, +) / 1e9, digits: 2)),
            ("sgemm_peak_gflop_per_cpu_s", .number(peak.bestPerCPUSecond, digits: 2)),
            ("mfu_cpu", .number(flopsMeasured / stepCPU.dropFirst().reduce(0, +) / 1e9 / peak.bestPerCPUSecond, digits: 3)),
            ("peak_rss_mb", .number(peakRSS.map { Double($0) / 1_048_576 }, digits: 1)),
            ("peak_anon_mb", .number(Double(peakAnon) / 1_048_576, digits: 1)),
            ("workspace_mb", .number(Double(model.workspaceBytes) / 1_048_576, digits: 1)),
            ("kept_activation_budget_mb", .number(Double(model.keptActivationBytes) / 1_048_576, digits: 1)),
            ("kept_layers", .array(keptLayers.map { .int($0) })),
            ("time_to_first_step_s", .number(firstStepAt, digits: 2)),
            ("load_s", .number(loadSeconds, digits: 3)),
            ("prepare_data_s", .number(prepareSeconds, digits: 3)),
            ("reference_pass_s", .number(referenceSeconds, digits: 2)),
            ("first_step_s", .number(reports[0].seconds, digits: 3)),
            ("final_save", .bool(!noFinalSave)),
            ("checkpoint_save_s", .number(saveSeconds, digits: 3)),
            ("step_seconds", .numbers(reports.map(\.seconds), digits: 3)),
            ("step_cpu_seconds", .numbers(stepCPU, digits: 3)),
            ("step_tokens", .array(reports.map { .int($0.tokens) })),
            ("losses", .numbers(reports.map(\.loss))),
        ])
        line.add("model_cached_at_start_mb", .number(residentAtStart.map { Double($0) / 1_048_576 }, digits: 1))
        line.add(options.footer(loadStart: loadStart))
        line.print()
    }
}

// MARK: - The trainer's data order

/// Which pairs the Trainer feeds at each step: the same seeded per-epoch permutation as
/// `Trainer.microBatch` (one micro-batch per step). The job checks every step's token count against the
/// trainer's report, so a change in the trainer's order fails loudly instead of skewing the FLOPs.
enum StepPlan {
    static func pairs(step: Int, trainer: Trainer) -> [TokenizedPair] {
        let args = trainer.arguments
        let all = trainer.train.pairs
        let n = all.count, perStep = args.batchSize * args.gradAccum
        let stepsPerEpoch = max(1, (n + perStep - 1) / perStep)
        let first = step * perStep
        let epoch = first / (stepsPerEpoch * perStep)
        var order = Array(all.indices)
        if args.shuffle {
            var rng = SplitMix64(seed: args.seed &+ UInt64(epoch) &* 0x9E37_79B9)
            order.shuffle(using: &rng)
        }
        let inEpoch = first - epoch * stepsPerEpoch * perStep
        guard inEpoch < n else { return [] }
        return order[inEpoch..<min(n, inEpoch + args.batchSize)].map { all[$0] }
    }
}

// MARK: - Helpers

extension ModelFileInfo {
    /// The file's name and the dtype that holds most of its bytes.
    init(_ file: MappedTensorFile) {
        var bytes: [DType: UInt64] = [:]
        for t in file.tensors { bytes[t.dtype, default: 0] += t.length }
        let dtype = bytes.max { $0.value < $1.value }?.key.rawValue ?? "?"
        let name = (file.path as NSString).lastPathComponent
        self.init(name: name, dtype: dtype, bytes: file.fileSize)
    }
}

func median(_ v: [Double]) -> Double {
    guard !v.isEmpty else { return .nan }
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func formatNumber(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
