// Timing of the training hot path on SmolLM2-135M with a bench-sized DPO micro-batch (4 pairs, prompts
// ~164 tokens, completions ~80, ~1950 real tokens): the eval pass (reference log-probs) and one
// forward+backward, with the prompts shared (the trainer's layout) and packed twice. Reports the median
// wall seconds of 3 runs and the load average (the machine may be shared). Process CPU time is not
// reported: the test runner's main thread busy-waits, which inflates it. For CPU figures use
// `leandpo train` under /usr/bin/time. Runs only with LEANDPO_BENCH=1 and the model present; checks
// only that the results are finite.

import Foundation
import Model
import TestSupport
import Testing

extension ModelTests {
    @Suite struct Benchmark {
        static var enabled: Bool { ProcessInfo.processInfo.environment["LEANDPO_BENCH"] == "1" && TestPaths.smolLM2 != nil }

        /// Wall seconds of `body`.
        static func time(_ body: () throws -> Void) rethrows -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }

        static func median(_ runs: [Double]) -> Double { runs.sorted()[runs.count / 2] }

        @Test(.enabled(if: Benchmark.enabled))
        func smolLM2TrainingStepTiming() throws {
            let threads = Int(ProcessInfo.processInfo.environment["LEANDPO_THREADS"] ?? "") ?? 2
            let model = try LlamaModel(path: TestPaths.smolLM2!, threads: threads)
            var rng = Xoshiro256(seed: 1)
            func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % 49_000) + 3 } }
            // (prompt, chosen, rejected) lengths: 4 pairs, 1952 real tokens, 656 scored.
            let shapes = [(170, 85, 70), (150, 90, 80), (160, 75, 85), (176, 80, 81)]
            let pairs = shapes.map { (ids($0.0), ids($0.1), ids($0.2)) }
            var shared = PackedBatch()
            for p in pairs { shared.append(p.0 + p.1) }
            for (i, p) in pairs.enumerated() { shared.append(p.2, continuing: i, prefixLength: p.0.count) }
            let plain = PackedBatch(sequences: pairs.map { $0.0 + $0.1 } + pairs.map { $0.0 + $0.2 })
            let ranges = pairs.map { $0.0.count..<($0.0.count + $0.1.count) } + pairs.map { $0.0.count..<($0.0.count + $0.2.count) }
            let real = plain.tokenCount
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 16, alpha: 32), modelConfig: model.config, seed: 1)
            model.reserve(tokens: plain.tokenCount, scoredTokens: ranges.reduce(0) { $0 + $1.count }, loraRank: 16, training: true)
            var ref: SequenceLogProbs? = nil
            _ = try model.sequenceLogProbs(batch: shared, completionRanges: ranges)  // warm the page cache
            let eval = try (0..<3).map { _ in try Self.time { ref = try model.sequenceLogProbs(batch: shared, completionRanges: ranges) } }
            var train: [String: [Double]] = [:]
            for (name, batch) in [("shared", shared), ("unshared", plain)] {
                for _ in 0..<3 {
                    adapter.zeroGradients()
                    train[name, default: []].append(
                        try Self.time {
                            try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter) { r in
                                [Float](repeating: 0.01, count: r.tokenLogProbs.count)
                            }
                        })
                }
            }
            let gen = try Self.time { _ = try model.generate(prompt: pairs[0].0, maxTokens: 32) }
            let fb = Self.median(train["shared"]!)
            print(
                "BENCH SmolLM2 f32, \(threads) threads, \(real) real tokens (\(shared.tokenCount) with shared prompts): "
                    + String(format: "eval %.2f s; forward+backward r=16 all targets: shared %.2f s ", Self.median(eval), fb)
                    + "(\(Int(Double(real) / fb)) real tok/s), unshared \(String(format: "%.2f", Self.median(train["unshared"]!))) s; "
                    + "generate 32 tokens after \(pairs[0].0.count): \(String(format: "%.2f", gen)) s; "
                    + "arena \(model.workspaceBytes >> 20) MiB; load \(String(format: "%.2f", Self.loadAverage()))")
            #expect(ref!.sums.allSatisfy { $0.isFinite })
            #expect(adapter.gradients.allSatisfy { $0.isFinite })
        }

        static func loadAverage() -> Double {
            var l = [Double](repeating: 0, count: 3)
            return getloadavg(&l, 3) > 0 ? l[0] : .nan
        }
    }
}
