// Kept activations: a training pass that keeps some layers' gate/up from its forward gives the results
// of one that recomputes them all.

@_spi(Benchmarks) import Model
import TestSupport
import Testing

extension ModelTests {
    /// Keeping some layers' gate/up from the training forward instead of recomputing them gives the same
    /// results: the kept values are the ones the recompute would produce. (Not bit for bit: attention's
    /// workers add their dk/dv partial sums in whichever order tasks fell to them; ≤1e-5 relative.)
    @Suite struct KeptActivations {
        @Test(arguments: [2, 100])
        func keptEqualsRecomputed(slots: Int) throws {
            var spec = TinySpec.qwen3
            spec.layers = 4
            let batch = SharedPrefix.shared()
            let (_, ranges) = SharedPrefix.unshared()
            func run(bytes: Int) throws -> (SequenceLogProbs, [Float], arena: Int) {
                // a fresh model per budget: the arena is sized from it on the first training pass
                let (_, path) = try makeTinyModel(spec)
                let m = try LlamaModel(path: path, threads: 2, switches: BenchmarkSwitches(keptActivationBytes: bytes))
                let adapter = try makeAdapter(m, dropout: 0.2)
                adapter.zeroGradients()
                let r = try m.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter, dropoutSeed: 3) { _ in
                    SharedPrefix.weights
                }
                return (r, Array(adapter.gradients), m.workspaceBytes)
            }
            let slot = 2 * batch.tokenCount * spec.ffn * 4
            let recomputed = try run(bytes: 0)
            let kept = try run(bytes: slots * slot)
            #expect(kept.arena - recomputed.arena >= min(slots, spec.layers - 1) * slot)  // the slots exist
            #expect(kept.0.tokenLogProbs == recomputed.0.tokenLogProbs)
            let scale = recomputed.1.map { abs($0) }.max()!
            #expect(maxAbsDiff(kept.1, recomputed.1) <= 1e-5 * scale)
        }
    }
}
