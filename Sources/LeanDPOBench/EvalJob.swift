// Forward-only scoring: the summed completion log-probs of every pair under the base (what `leandpo eval`
// and the trainer's reference pass run), through PairScoring in its default groups of about 4096 tokens.
// The first pass is reported but not in the rate (it faults the mapped model in).

import ArgumentParser
import Foundation
import Model
import TensorFile
import Training

struct EvalJob: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Forward-only scoring of every pair.")

    @OptionGroup var options: JobOptions
    @Option(help: "Passes over the pairs (the first is excluded from the rate).") var passes = 2

    func validate() throws {
        guard passes >= 2 else { throw ValidationError("--passes must be ≥ 2 (the first pass is not measured)") }
    }

    func run() throws {
        let loadStart = LoadAverage.read()
        let residentAtStart = FileResidency.residentBytes(options.model)
        let sampler = AnonPeakSampler()
        var t0 = ProcessClock.now()
        let file = try MappedTensorFile(path: options.model)
        let text = try ModelText(file.metadata)
        let model = try LlamaModel(file: file, threads: options.threads)
        options.applyComputeDType(model)
        let loadSeconds = ProcessClock.seconds(since: t0)
        t0 = ProcessClock.now()
        let set = try PreferenceDataset.load(
            path: options.data, context: text.context, options: DataOptions(maxLength: options.maxLength, truncation: .keepStart))
        let prepareSeconds = ProcessClock.seconds(since: t0)
        let pairs = set.pairs
        guard !pairs.isEmpty else { throw BenchError("\(options.data) holds no pairs") }

        var passSeconds: [Double] = []
        var passCPU: [Double] = []
        var sums: [Double] = []
        for i in 0..<passes {
            t0 = ProcessClock.now()
            let cpu0 = ProcessClock.cpuSeconds()
            let (r, _) = try PairScoring.score(pairs, model: model, adapter: nil)
            passSeconds.append(ProcessClock.seconds(since: t0))
            passCPU.append(ProcessClock.cpuSeconds() - cpu0)
            sums = r.chosen + r.rejected
            note(String(format: "pass %d/%d: %.3f s", i + 1, passes, passSeconds.last!))
        }
        let peakAnon = sampler.stop()
        let peakRSS = ProcStatus.peakResident

        let tokens = pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count }
        let flops = FlopCount(config: model.config, lora: nil)
        var parts = FlopCount.Parts()
        for g in PairScoring.groups(Array(pairs.indices), pairs: pairs, tokenBudget: 4096) {
            let pb = PairBatch(pairs: g.map { pairs[$0] })
            parts = parts + flops.forward(segments: FlopCount.segments(pb.batch), scored: pb.ranges.reduce(0) { $0 + $1.count })
        }
        let peak = SgemmPeak.measure(threads: options.threads)
        let measured = Array(passSeconds.dropFirst())
        let sec = measured.reduce(0, +) / Double(measured.count)
        let gflops = parts.total / sec / 1e9

        var line = JSONLine()
        line.add("job", .string("eval"))
        line.add(options.header(file: ModelFileInfo(file)))
        line.add([
            ("pairs", .int(pairs.count)), ("max_length", .int(options.maxLength)), ("passes", .int(passes)),
            ("tokens_per_pass", .int(tokens)),
            ("scored_tokens_per_pass", .int(pairs.reduce(0) { $0 + $1.chosen.scoredTokens + $1.rejected.scoredTokens })),
            ("sec_per_pass", .number(sec, digits: 3)),
            ("tokens_per_s", .number(Double(tokens) / sec, digits: 1)),
            ("matmul_gflop_per_pass", .number(parts.total / 1e9, digits: 2)),
            ("matmul_gflop_by_kind", parts.fields),
            ("matmul_gflops", .number(gflops, digits: 2)),
            ("sgemm_peak_gflops", .number(peak.best, digits: 2)),
            ("mfu", .number(gflops / peak.best, digits: 3)),
            ("matmul_gflop_per_cpu_s", .number(parts.total / median(Array(passCPU.dropFirst())) / 1e9, digits: 2)),
            ("sgemm_peak_gflop_per_cpu_s", .number(peak.bestPerCPUSecond, digits: 2)),
            ("mfu_cpu", .number(parts.total / median(Array(passCPU.dropFirst())) / 1e9 / peak.bestPerCPUSecond, digits: 3)),
            ("peak_rss_mb", .number(peakRSS.map { Double($0) / 1_048_576 }, digits: 1)),
            ("peak_anon_mb", .number(Double(peakAnon) / 1_048_576, digits: 1)),
            ("load_s", .number(loadSeconds, digits: 3)),
            ("prepare_data_s", .number(prepareSeconds, digits: 3)),
            ("pass_seconds", .numbers(passSeconds, digits: 3)),
            ("pass_cpu_seconds", .numbers(passCPU, digits: 3)),
            ("logps_sum", .number(sums.reduce(0, +))),
        ])
        line.add("model_cached_at_start_mb", .number(residentAtStart.map { Double($0) / 1_048_576 }, digits: 1))
        line.add(options.footer(loadStart: loadStart))
        line.print()
    }
}
