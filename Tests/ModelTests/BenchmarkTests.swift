// Timing of the training hot path on SmolLM2-135M: an eval pass (the reference log-probs) and one
// forward+backward over a DPO-sized packed batch (8 sequences, ~1240 tokens). Runs only with
// LEANDPO_BENCH=1 and the model present; prints the figures, checks only that the results are finite.

import Foundation
import Model
import TestSupport
import Testing

extension ModelTests {
    @Suite struct Benchmark {
        static var enabled: Bool { ProcessInfo.processInfo.environment["LEANDPO_BENCH"] == "1" && TestPaths.smolLM2 != nil }

        @Test(.enabled(if: Benchmark.enabled))
        func smolLM2TrainingStepTiming() throws {
            let threads = Int(ProcessInfo.processInfo.environment["LEANDPO_THREADS"] ?? "") ?? 2
            let model = try LlamaModel(path: TestPaths.smolLM2!, threads: threads)
            var rng = Xoshiro256(seed: 1)
            // 4 pairs: a shared prompt per pair, chosen and rejected completions of different lengths.
            let lengths = [150, 170, 140, 160, 165, 135, 155, 165]
            let sequences: [[Int32]] = lengths.map { n in (0..<n).map { _ in Int32(rng.next() % 49_000) + 3 } }
            let ranges = lengths.map { ($0 / 2)..<$0 }
            let batch = PackedBatch(sequences: sequences)
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 16, alpha: 32), modelConfig: model.config, seed: 1)
            model.reserve(tokens: batch.tokenCount, scoredTokens: ranges.reduce(0) { $0 + $1.count }, loraRank: 16, training: true)
            func time(_ body: () throws -> Void) rethrows -> Double {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            var ref: SequenceLogProbs? = nil
            _ = try model.sequenceLogProbs(batch: batch, completionRanges: ranges)  // warm the page cache
            let evalSeconds = try (0..<2).map { _ in
                try time { ref = try model.sequenceLogProbs(batch: batch, completionRanges: ranges) }
            }.min()!
            var trainSeconds: [Double] = []
            for _ in 0..<2 {
                adapter.zeroGradients()
                trainSeconds.append(
                    try time {
                        try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter) { r in
                            [Float](repeating: 0.01, count: r.tokenLogProbs.count)
                        }
                    })
            }
            let gen = try time { _ = try model.generate(prompt: sequences[0], maxTokens: 32) }
            print(
                "BENCH SmolLM2 f32, \(threads) threads, T=\(batch.tokenCount): eval \(String(format: "%.2f", evalSeconds)) s "
                    + "(\(Int(Double(batch.tokenCount) / evalSeconds)) tok/s); forward+backward r=16 all targets "
                    + "\(trainSeconds.map { String(format: "%.2f", $0) }) s; generate 32 tokens after 150: \(String(format: "%.2f", gen)) s; "
                    + "arena \(model.workspaceBytes >> 20) MiB")
            #expect(ref!.sums.allSatisfy { $0.isFinite })
            #expect(adapter.gradients.allSatisfy { $0.isFinite })
        }
    }
}
