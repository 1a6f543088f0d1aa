// PairBatch's packing: a pair's rejected sequence continues its chosen one over their common prefix
// (the prompt), the sequences the model sees are still prompt+chosen and prompt+rejected, pairs whose
// sequences share nothing are packed apart, and on SmolLM2 (when present) the shared layout gives the
// unshared sums and LoRA gradients.

import Foundation
import Model
import SeededRandom
import TensorFile
import TestSupport
import Testing
import Training

@Suite(.serialized) struct PairBatchTests {
    static let records = """
        {"prompt": "The weather", "chosen": " Then I", "rejected": " I"}
        {"prompt": "Human: hi", "chosen": " Assistant: hello", "rejected": " Assistant: bye now"}
        {"prompt": "abc", "chosen": " xyz", "rejected": " xyw"}
        """

    static func pairs(maxLength: Int? = nil, truncation: TruncationMode = .keepStart) throws -> [TokenizedPair] {
        let path = try temporaryFile(records, name: "pairbatch.jsonl")
        return try PreferenceDataset.load(
            path: path, context: Toy.context, options: DataOptions(maxLength: maxLength, truncation: truncation)
        ).pairs
    }

    @Test(arguments: [false, true])
    func sharedLayoutKeepsTheSequences(wholeChosen: Bool) throws {
        let pairs = try Self.pairs()
        let shared = PairBatch(pairs: pairs, wholeChosen: wholeChosen)
        let plain = PairBatch(pairs: pairs, wholeChosen: wholeChosen, sharePrompts: false)
        #expect(shared.ranges == plain.ranges)
        #expect(shared.tokenCount == plain.tokenCount)
        #expect(plain.streamTokenCount == plain.tokenCount)
        let b = pairs.count
        var saved = 0
        for i in 0..<(2 * b) {
            let seq = i < b ? pairs[i].chosen : pairs[i - b].rejected
            #expect(shared.batch.sequence(i) == seq.ids.map { Int32($0) }, "sequence \(i)")
            #expect(plain.batch.sequence(i) == seq.ids.map { Int32($0) })
            if i >= b {
                // The common prefix covers at least the prompt; rejected keeps at least one own token.
                let seg = shared.batch.segments[i]
                #expect(seg.prefix.count >= pairs[i - b].rejected.completionStart)
                #expect(seg.prefix.lowerBound == shared.batch.segments[i - b].start)
                #expect(seg.length >= 1)
                saved += seg.prefix.count
            }
        }
        #expect(shared.streamTokenCount == plain.tokenCount - saved)
        #expect(saved > 0)
        // The scoring lists name the same target tokens in the same order.
        let s = try shared.batch.scoring(completionRanges: shared.ranges)
        let p = try plain.batch.scoring(completionRanges: plain.ranges)
        #expect(s.targets == p.targets && s.offsets == p.offsets)
    }

    /// keep_end truncation can cut prompt+chosen and prompt+rejected at different places; only what they
    /// still have in common is shared (possibly nothing).
    @Test func truncatedPairsShareOnlyTheirCommonPrefix() throws {
        let pairs = try Self.pairs(maxLength: 6, truncation: .keepEnd)
        let pb = PairBatch(pairs: pairs)
        for (i, pair) in pairs.enumerated() {
            let seg = pb.batch.segments[pairs.count + i]
            let c = pair.chosen.ids, r = pair.rejected.ids
            #expect(Array(c.prefix(seg.prefix.count)) == Array(r.prefix(seg.prefix.count)))
            #expect(pb.batch.sequence(pairs.count + i) == r.map { Int32($0) })
        }
    }

    /// SmolLM2 on the bench data: shared and unshared packing give the same sums (f32 repacking noise
    /// ~1e-6 relative) and the same LoRA gradients.
    @Test(.enabled(if: TestPaths.smolLM2 != nil))
    func smolLM2SharedEqualsUnshared() throws {
        let file = try MappedTensorFile(path: TestPaths.smolLM2!)
        let model = try LlamaModel(file: file)
        let text = try ModelText(file.metadata)
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../tools/bench-data/pairs.jsonl"
        ).standardized.path
        let pairs = Array(try PreferenceDataset.load(path: data, context: text.context, options: DataOptions(maxLength: 1024)).pairs.prefix(2))
        let shared = PairBatch(pairs: pairs), plain = PairBatch(pairs: pairs, sharePrompts: false)
        #expect(shared.streamTokenCount < plain.streamTokenCount)
        let adapter = try LoRAAdapter(config: LoRAConfig(r: 4, alpha: 8), modelConfig: model.config, seed: 3)
        var rng = Xoshiro256(seed: 4)
        for i in adapter.parameters.indices { adapter.parameters[i] = 0.01 * (2 * rng.nextUnitFloat() - 1) }
        var grads: [[Float]] = []
        var sums: [[Float]] = []
        for pb in [shared, plain] {
            adapter.zeroGradients()
            let lp = try model.forwardBackward(batch: pb.batch, completionRanges: pb.ranges, adapter: adapter) { r in
                // d loss / d token log p: +1 for every token of a chosen sequence, −1 for a rejected one.
                (0..<r.sequenceCount).flatMap { [Float](repeating: $0 < pairs.count ? 1 : -1, count: r.tokenCount($0)) }
            }
            sums.append(lp.sums)
            grads.append(Array(adapter.gradients))
        }
        for (a, b) in zip(sums[0], sums[1]) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "sum \(a) vs \(b)") }
        let scale = grads[1].map { abs($0) }.max()!
        #expect(maxAbsDiff(grads[0], grads[1]) <= 1e-4 * scale, "LoRA gradients, shared vs unshared")
    }
}
