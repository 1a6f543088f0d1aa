// The LM head's two backwards inside a training pass: folding E_p[W] into the forward (the default)
// gives the gradients of recomputing the logits in the backward.

import Model
import TestSupport
import Testing

extension ModelTests {
    @Suite struct HeadBackward {
        @Test func foldedEqualsRecomputed() throws {
            let batch = SharedPrefix.shared()
            let (_, ranges) = SharedPrefix.unshared()
            func run(recompute: Bool) throws -> (SequenceLogProbs, [Float]) {
                let (m, _) = try makeTinyModel(TinySpec.qwen3)
                m.recomputesHeadLogits = recompute
                let adapter = try makeAdapter(m, dropout: 0)
                adapter.zeroGradients()
                let r = try m.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter) { _ in SharedPrefix.weights }
                return (r, Array(adapter.gradients))
            }
            let folded = try run(recompute: false), recomputed = try run(recompute: true)
            #expect(folded.0.tokenLogProbs == recomputed.0.tokenLogProbs, "the forward's log-probs do not depend on it")
            let scale = recomputed.1.map { abs($0) }.max()!
            #expect(scale > 0)
            #expect(maxAbsDiff(folded.1, recomputed.1) <= 1e-5 * scale)
        }
    }
}
