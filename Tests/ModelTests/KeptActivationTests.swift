// Kept activations: a training pass that keeps every layer's activations from its forward, some of them,
// or none (recomputing those layers in the backward) gives the same log-probs and LoRA gradients, bit
// for bit: a kept value is the one the recompute would produce, and the kernels' work split is fixed.

@_spi(Benchmarks) import Model
import TestSupport
import Testing

extension ModelTests {
    @Suite struct KeptActivations {
        struct Run {
            var logps: [Float]
            var gradients: [Float]
            var keptLayers: Int
            var arenaBytes: Int
        }

        /// One training pass on a fresh model (the arena is sized from the budget on the first pass).
        static func run(_ spec: TinySpec, bytes: Int, dropout: Double, shared: Bool) throws -> Run {
            let (_, path) = try makeTinyModel(spec)
            let m = try LlamaModel(path: path, threads: 2, switches: BenchmarkSwitches(keptActivationBytes: bytes))
            let adapter = try makeAdapter(m, dropout: dropout)
            adapter.zeroGradients()
            let (plain, ranges) = SharedPrefix.unshared()
            let r = try m.forwardBackward(batch: shared ? SharedPrefix.shared() : plain, completionRanges: ranges, adapter: adapter, dropoutSeed: 3) {
                _ in SharedPrefix.weights
            }
            return Run(logps: r.tokenLogProbs, gradients: Array(adapter.gradients), keptLayers: m.keptLayers, arenaBytes: m.workspaceBytes)
        }

        /// q/k norms (qwen3), q/k/v biases (qwen2), plain llama, Gemma 2 (post-norms, GeGLU, soft caps, a
        /// sliding layer) and Gemma 3 (q/k norms, two RoPE tables); with and without LoRA dropout; a batch
        /// with shared prompts and one packed whole. Nothing kept, two of the three layers below the last,
        /// all of them: identical bits.
        @Test(arguments: [TinySpec.llama, .qwen2, .qwen3, .gemma2, .gemma3, .mistral, .qwen2SlidingLayer, .phi3], [0.0, 0.2])
        func keptEqualsRecomputed(spec base: TinySpec, dropout: Double) throws {
            var spec = base
            spec.layers = 4
            if let types = base.layerTypes { spec.layerTypes = (0..<4).map { types[$0 % types.count] } }
            for shared in [true, false] {
                let none = try Self.run(spec, bytes: 0, dropout: dropout, shared: shared)
                let all = try Self.run(spec, bytes: 1 << 40, dropout: dropout, shared: shared)
                #expect(none.keptLayers == 0 && all.keptLayers == 3)
                // a slot's size, from what keeping all three added to the arena
                let slot = (all.arenaBytes - none.arenaBytes) / 3
                #expect(slot > 0)
                let some = try Self.run(spec, bytes: 2 * slot + slot / 2, dropout: dropout, shared: shared)
                #expect(some.keptLayers == 2)
                for (name, r) in [("all", all), ("some", some)] {
                    #expect(r.logps == none.logps, "\(spec) dropout \(dropout) shared \(shared): log-probs with \(name) kept")
                    #expect(r.gradients == none.gradients, "\(spec) dropout \(dropout) shared \(shared): gradients with \(name) kept")
                }
                #expect(none.gradients.contains { $0 != 0 })
            }
        }

        /// The arena is reused from pass to pass, and a budget set on the model (`--memory-budget`)
        /// replaces it: a second, smaller batch and a changed budget still give the recomputed bits.
        @Test func budgetChangesBetweenPasses() throws {
            var spec = TinySpec.qwen3
            spec.layers = 4
            let (_, path) = try makeTinyModel(spec)
            let m = try LlamaModel(path: path, threads: 2, switches: BenchmarkSwitches(keptActivationBytes: 1 << 40))
            let reference = try LlamaModel(path: path, threads: 2, switches: BenchmarkSwitches(keptActivationBytes: 0))
            let (plain, ranges) = SharedPrefix.unshared()
            let small = PackedBatch(sequences: [Array(plain.sequence(0)), Array(plain.sequence(1))])
            let smallRanges = Array(ranges[0..<2])
            func pass(_ model: LlamaModel, _ batch: PackedBatch, _ ranges: [Range<Int>]) throws -> ([Float], [Float]) {
                let adapter = try makeAdapter(model, dropout: 0.1)
                adapter.zeroGradients()
                let r = try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter, dropoutSeed: 5) {
                    Array(SharedPrefix.weights.prefix($0.tokenLogProbs.count))
                }
                return (r.tokenLogProbs, Array(adapter.gradients))
            }
            let a = try pass(m, plain, ranges)
            #expect(m.keptLayers == 3)
            let b = try pass(m, small, smallRanges)
            #expect(m.keptLayers == 3)
            m.keptActivationBytes = 0
            #expect(m.workspaceBytes == 0, "a new budget drops the arena")
            let c = try pass(m, small, smallRanges)
            #expect(m.keptLayers == 0)
            let ra = try pass(reference, plain, ranges), rb = try pass(reference, small, smallRanges)
            #expect(a == ra)
            #expect(b == rb && c == rb)
        }
    }
}
