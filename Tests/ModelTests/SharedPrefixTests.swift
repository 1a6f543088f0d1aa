// Shared prompts: a sequence packed as a continuation of an earlier segment's first tokens gives the same
// log-probs and LoRA gradients as the sequence packed whole, its whole-model gradient passes the
// finite-difference check, explicit scoring lists equal completion ranges, and malformed layouts or
// scoring lists are refused with a typed error. On SmolLM2 (when present) shared equals unshared too.
// (SharedPrefix's batches are reused by WeightPageTests and KeptActivationTests.)

import Foundation
import Model
import SeededRandom
import TestSupport
import Testing

extension ModelTests {
    @Suite struct SharedPrefix {
        /// Two pairs (prompt 7 tokens + completions 5/3, prompt 4 + completions 6/6 that share their first 2
        /// tokens) and an odd third pair whose prompts differ (packed apart).
        static let pairs: [(prompt: [Int32], chosen: [Int32], rejected: [Int32])] = {
            var rng = Xoshiro256(seed: 21)
            func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % 37) } }
            let shared = ids(2)
            return [(ids(7), ids(5), ids(3)), (ids(4), shared + ids(4), shared + ids(4))]
        }()

        /// Unshared: chosen sequences then rejected ones, each whole; ranges cover the completions.
        static func unshared() -> (PackedBatch, [Range<Int>]) {
            let seqs = pairs.map { $0.prompt + $0.chosen } + pairs.map { $0.prompt + $0.rejected }
            let prompts = pairs.map(\.prompt.count) + pairs.map(\.prompt.count)
            return (PackedBatch(sequences: seqs), zip(prompts, seqs).map { p, s in p..<s.count })
        }

        /// Shared: chosen sequences, then each rejected completion continuing its pair's common prefix
        /// (the second pair shares 2 completion tokens beyond its prompt). Same sequences, same ranges.
        static func shared() -> PackedBatch {
            var b = PackedBatch()
            for p in pairs { b.append(p.prompt + p.chosen) }
            for (i, p) in pairs.enumerated() {
                let whole = p.prompt + p.rejected, c = p.prompt + p.chosen
                var n = 0
                while n < min(c.count, whole.count - 1) && c[n] == whole[n] { n += 1 }
                b.append(Array(whole[n...]), continuing: i, prefixLength: n)
            }
            return b
        }

        /// Loss weights, one per scored token (5 + 6 + 3 + 6 = 20).
        static let weights: [Float] = {
            var rng = Xoshiro256(seed: 22)
            return (0..<20).map { _ in 2 * rng.nextUnitFloat() - 1 }
        }()

        @Test func layout() throws {
            let (plain, ranges) = Self.unshared()
            let b = Self.shared()
            #expect(b.sequenceCount == plain.sequenceCount)
            #expect(b.sequenceTokenCount == plain.tokenCount)
            #expect(b.tokenCount == plain.tokenCount - 7 - 6)  // prompt 7 once; prompt 4 + 2 shared tokens once
            for i in 0..<b.sequenceCount { #expect(b.sequence(i) == Array(plain.sequence(i))) }
            #expect(b.segments[2].prefix == 0..<7 && b.segments[3].prefix == b.segments[1].start..<(b.segments[1].start + 6))
            #expect(Array(b.positions[b.segments[2].range]) == [7, 8, 9])
            // The first rejected completion token is scored at the last prompt row, as the first chosen one.
            let s = try b.scoring(completionRanges: ranges)
            #expect(s.rows[s.offsets[2]] == 6 && s.rows[0] == 6)
            #expect(s.targets == (try plain.scoring(completionRanges: ranges)).targets)
        }

        @Test(arguments: [TinySpec.llama, .qwen2, .qwen3, .llamaUntiedScaled, .mistral, .qwen2SlidingLayer, .phi3])
        func sharedEqualsUnshared(spec: TinySpec) throws {
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model)
            let (plain, ranges) = Self.unshared()
            let shared = Self.shared()
            for a in [nil, adapter] {
                let u = try model.sequenceLogProbs(batch: plain, completionRanges: ranges, adapter: a)
                let s = try model.sequenceLogProbs(batch: shared, completionRanges: ranges, adapter: a)
                #expect(s.tokenOffsets == u.tokenOffsets)
                #expect(maxAbsDiff(s.tokenLogProbs, u.tokenLogProbs) <= 1e-5)
                #expect(maxAbsDiff(s.meanLogitSums, u.meanLogitSums) <= 1e-4)
            }
            // Training: same log-probs, same LoRA gradients (the prompt rows collect both completions').
            adapter.zeroGradients()
            let tu = try model.forwardBackward(batch: plain, completionRanges: ranges, adapter: adapter) { _ in Self.weights }
            let gu = Array(adapter.gradients)
            adapter.zeroGradients()
            let ts = try model.forwardBackward(batch: shared, completionRanges: ranges, adapter: adapter) { _ in Self.weights }
            let gs = Array(adapter.gradients)
            #expect(maxAbsDiff(ts.tokenLogProbs, tu.tokenLogProbs) <= 1e-5)
            let scale = gu.map { abs($0) }.max()!
            #expect(scale > 0)
            #expect(maxAbsDiff(gs, gu) <= 1e-5 * max(1, scale), "LoRA gradients, shared vs unshared, \(spec)")
        }

        @Test(arguments: [TinySpec.llama, .qwen3])
        func gradientMatchesFiniteDifferences(spec: TinySpec) throws {
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model)
            let (_, ranges) = Self.unshared()
            let batch = Self.shared()
            adapter.zeroGradients()
            try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter) { r in
                #expect(r.tokenLogProbs.count == Self.weights.count)
                return Self.weights
            }
            let analytic = Array(adapter.gradients)
            func loss() throws -> Double {
                let r = try model.sequenceLogProbs(batch: batch, completionRanges: ranges, adapter: adapter)
                return zip(Self.weights, r.tokenLogProbs).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            let (worst, n) = try Gradients.check(adapter: adapter, analytic: analytic, count: 40, seed: 9, evaluate: loss)
            #expect(n == 40)
            #expect(worst <= 1, "worst |fd − analytic| / tolerance = \(worst) for \(spec)")
        }

        @Test func explicitScoringEqualsRanges() throws {
            let (model, _) = try makeTinyModel(.qwen2)
            let adapter = try makeAdapter(model)
            let (_, ranges) = Self.unshared()
            let batch = Self.shared()
            let byRanges = try model.sequenceLogProbs(batch: batch, completionRanges: ranges, adapter: adapter)
            // The same entries written out by hand, in a different grouping: every token alone.
            var scoring = ScoredTokens()
            let s = try batch.scoring(completionRanges: ranges)
            for i in 0..<s.count { scoring.append(group: [(row: Int(s.rows[i]), target: s.targets[i])]) }
            let single = try model.sequenceLogProbs(batch: batch, scoring: scoring, adapter: adapter)
            #expect(single.tokenLogProbs == byRanges.tokenLogProbs)
            #expect(single.sums == single.tokenLogProbs)
        }

        @Test func malformedLayoutsAndScoringAreRefused() throws {
            let (model, _) = try makeTinyModel(.llama)
            var b = Self.shared()
            // A prefix that does not start an independent segment.
            b.segments[3].prefix = 1..<4
            #expect(throws: ModelError.self) {
                try model.sequenceLogProbs(batch: b, scoring: ScoredTokens(rows: [0], targets: [1], offsets: [0, 1]))
            }
            let ok = Self.shared()
            for bad in [
                ScoredTokens(rows: [Int32(ok.tokenCount)], targets: [1], offsets: [0, 1]),  // row past the end
                ScoredTokens(rows: [0], targets: [37], offsets: [0, 1]),  // target outside the vocabulary
                ScoredTokens(rows: [0, 1], targets: [1, 2], offsets: [0, 1]),  // offsets do not reach the end
                ScoredTokens(rows: [0], targets: [1, 2], offsets: [0, 1]),  // counts differ
            ] {
                #expect(throws: ModelError.self) { try model.sequenceLogProbs(batch: ok, scoring: bad) }
            }
            // A range reaching past the continuation's sequence (prefix + own tokens).
            #expect(throws: ModelError.self) {
                try ok.scoring(completionRanges: [1..<12, 1..<10, 7..<10, 4..<11])
            }
        }

        /// SmolLM2: a chat-sized prompt shared by two completions gives the unshared log-probs.
        @Test(.enabled(if: TestPaths.smolLM2 != nil))
        func smolLM2SharedEqualsUnshared() throws {
            let model = try LlamaModel(path: TestPaths.smolLM2!)
            var rng = Xoshiro256(seed: 5)
            func ids(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % 49_000) + 3 } }
            let prompt = ids(90), chosen = ids(40), rejected = ids(25)
            let plain = PackedBatch(sequences: [prompt + chosen, prompt + rejected])
            var shared = PackedBatch()
            shared.append(prompt + chosen)
            shared.append(rejected, continuing: 0, prefixLength: prompt.count)
            let ranges = [90..<130, 90..<115]
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 8, alpha: 16), modelConfig: model.config, seed: 3)
            for i in adapter.parameters.indices { adapter.parameters[i] = 0.02 * (2 * rng.nextUnitFloat() - 1) }
            // f32 sums over 576-wide rows and a 49k vocabulary: repacking rows (another sgemm blocking)
            // moves a log-prob of magnitude ~10 by ~1e-6 relative, as packing two sequences together
            // instead of one at a time does. Tolerance per token: 1e-5 · max(1, |logp|).
            func worst(_ a: [Float], _ b: [Float]) -> Float {
                zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            }
            for a in [nil, adapter] {
                let u = try model.sequenceLogProbs(batch: plain, completionRanges: ranges, adapter: a)
                let s = try model.sequenceLogProbs(batch: shared, completionRanges: ranges, adapter: a)
                let alone = try model.sequenceLogProbs(batch: PackedBatch(sequences: [prompt + rejected]), completionRanges: [ranges[1]], adapter: a)
                print(
                    "SmolLM2 shared vs unshared: max |Δlogp| \(maxAbsDiff(s.tokenLogProbs, u.tokenLogProbs)), relative \(worst(s.tokenLogProbs, u.tokenLogProbs)); "
                        + "packed vs alone: \(maxAbsDiff(Array(u.tokens(1)), alone.tokenLogProbs))")
                #expect(worst(s.tokenLogProbs, u.tokenLogProbs) <= 1e-5, "per-token log-probs")
                #expect(maxAbsDiff(s.sums, u.sums) <= 1e-4 * max(1, u.sums.map { abs($0) }.max()!), "sums")
            }
        }
    }
}
