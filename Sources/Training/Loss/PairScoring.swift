// Scoring preference pairs with the model: packing a micro-batch of pairs into one padding-free token
// stream, the scored-token ranges, and turning the model's per-token log-probs into the per-pair sums the
// losses take. Sequences are chosen 0..<B, then rejected 0..<B (TRL's batch order); a pair's rejected
// sequence is packed as a continuation of its chosen one over their common prefix (normally the prompt),
// so the prompt runs once per pair instead of twice.

import Model

/// How a micro-batch's sequences are laid out in the packed stream.
public struct PairBatch {
    public let pairs: [TokenizedPair]
    /// Stream: [chosen 0] … [chosen B−1] [rejected 0] … [rejected B−1]; rejected i holds only its tokens past
    /// the prefix it shares with chosen i (its whole sequence when they share nothing).
    public let batch: PackedBatch
    /// Per sequence (chosen 0..<B, then rejected 0..<B): the token indices whose log-probs are computed,
    /// inside the whole sequence (prompt + completion), as `LlamaModel.sequenceLogProbs` takes them.
    public let ranges: [Range<Int>]
    /// Whether chosen sequences are scored from position 1 (orpo's whole-sequence NLL) instead of the completion.
    public let wholeChosen: Bool

    /// `sharePrompts: false` packs every sequence on its own (the results are the same up to rounding).
    /// With LoRA dropout the shared prompt rows draw one mask for both completions, where packing apart
    /// (and TRL) draws one per sequence: the same distribution per sequence, correlated between the two.
    public init(pairs: [TokenizedPair], wholeChosen: Bool = false, sharePrompts: Bool = true) {
        precondition(!pairs.isEmpty)
        self.pairs = pairs
        self.wholeChosen = wholeChosen
        var batch = PackedBatch()
        for p in pairs { batch.append(p.chosen.ids.map { Int32($0) }) }
        for (i, p) in pairs.enumerated() {
            let shared = sharePrompts ? Self.sharedPrefix(p) : 0
            let ids = p.rejected.ids.map { Int32($0) }
            if shared > 0 {
                batch.append(Array(ids[shared...]), continuing: i, prefixLength: shared)
            } else {
                batch.append(ids)
            }
        }
        self.batch = batch
        let seqs = pairs.map(\.chosen) + pairs.map(\.rejected)
        ranges = seqs.enumerated().map { i, s in
            let start = (wholeChosen && i < pairs.count) ? 1 : max(s.completionStart, 1)
            return start..<max(start, s.ids.count)
        }
    }

    /// Tokens rejected can take from chosen: their common prefix, leaving rejected at least one own token.
    /// Causal attention makes those rows identical in both sequences, so computing them once changes nothing.
    static func sharedPrefix(_ p: TokenizedPair) -> Int {
        let c = p.chosen.ids, r = p.rejected.ids
        let limit = min(c.count, r.count - 1)
        var n = 0
        while n < limit && c[n] == r[n] { n += 1 }
        return n
    }

    public var count: Int { pairs.count }
    /// Real tokens: prompt+chosen plus prompt+rejected of every pair (a shared prompt counted twice), the
    /// figure throughput is quoted in.
    public var tokenCount: Int { batch.sequenceTokenCount }
    /// Tokens the model actually runs (a shared prompt once).
    public var streamTokenCount: Int { batch.tokenCount }

    /// Per-pair sums taken from the model's per-token log-probs.
    public struct Sums {
        public var chosen: [Double] = []
        public var rejected: [Double] = []
        public var chosenTail: [Double] = []
        public var rejectedTail: [Double] = []
        /// orpo: Σ over every predicted position of the chosen sequence.
        public var chosenSequence: [Double] = []
        public var chosenLogitSums: [Double] = []
        public var rejectedLogitSums: [Double] = []
        /// Σ over the scored completion tokens of the next-token entropy (TRL's `entropy` numerator).
        public var chosenEntropySums: [Double] = []
        public var rejectedEntropySums: [Double] = []
        /// Scored chosen completion tokens whose target is the argmax (TRL's `mean_token_accuracy` numerator).
        public var chosenTop1: [Int] = []
        /// Σ over the scored completion tokens of log p − log Σ p² (WPO: the weight is e^(Σ / tokens)).
        public var chosenAlignedSums: [Double] = []
        public var rejectedAlignedSums: [Double] = []
        /// Σ over the scored completion tokens of KL(policy ‖ reference) (only with `--kl-estimate`).
        public var chosenKLSums: [Double] = []
        public var rejectedKLSums: [Double] = []
    }

    /// Completion sums (only tokens at positions ≥ max(completionStart, 1)), tail sums beyond the shared
    /// scored length (ld_alpha), and the whole-sequence sum of chosen when it was scored.
    public func sums(_ lp: SequenceLogProbs) -> Sums {
        var s = Sums()
        let b = count
        for i in 0..<(2 * b) {
            let pair = pairs[i % b]
            let seq = i < b ? pair.chosen : pair.rejected
            let tokens = lp.tokens(i)
            // Completion tokens are the last `scoredTokens` entries of the computed range.
            let scored = seq.scoredTokens
            let completion = tokens.suffix(scored)
            var total = 0.0
            var tail = 0.0
            for (k, v) in completion.enumerated() {
                total += Double(v)
                if k >= pair.sharedScoredTokens { tail += Double(v) }
            }
            // The head's per-token statistics over the same completion tokens (absent when not computed).
            var entropy = 0.0, aligned = 0.0, top1 = 0
            let end = lp.tokenOffsets[i + 1]
            if lp.tokenEntropies.count == lp.tokenLogProbs.count {
                for j in (end - completion.count)..<end {
                    entropy += Double(lp.tokenEntropies[j])
                    aligned += Double(lp.tokenLogProbs[j]) - Double(lp.tokenLogSumSquares[j])
                    if lp.tokenIsTop1[j] { top1 += 1 }
                }
            }
            let kl = lp.tokenKL.count == lp.tokenLogProbs.count ? lp.tokenKL[(end - completion.count)..<end].reduce(0) { $0 + Double($1) } : 0
            if i < b {
                s.chosen.append(total)
                s.chosenTail.append(tail)
                s.chosenSequence.append(tokens.reduce(0) { $0 + Double($1) })
                s.chosenLogitSums.append(Double(lp.meanLogitSums[i]))
                s.chosenEntropySums.append(entropy)
                s.chosenAlignedSums.append(aligned)
                s.chosenTop1.append(top1)
                s.chosenKLSums.append(kl)
            } else {
                s.rejected.append(total)
                s.rejectedTail.append(tail)
                s.rejectedLogitSums.append(Double(lp.meanLogitSums[i]))
                s.rejectedEntropySums.append(entropy)
                s.rejectedAlignedSums.append(aligned)
                s.rejectedKLSums.append(kl)
            }
        }
        return s
    }

    /// d loss / d each computed token log-prob, in the model's layout, scaled by `scale` (1/grad-accum).
    public func tokenGradients(_ g: LossGradient, scale: Double) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(ranges.reduce(0) { $0 + $1.count })
        let b = count
        for i in 0..<(2 * b) {
            let pair = pairs[i % b]
            let seq = i < b ? pair.chosen : pair.rejected
            let full = g.tokenGradients(pair: i % b, chosen: i < b, sequence: seq, sharedScoredTokens: pair.sharedScoredTokens)
            // full[j] is for token j+1; the range covers tokens ranges[i].
            for t in ranges[i] { out.append(Float(full[t - 1] * scale)) }
        }
        return out
    }
}

/// The reference model's per-pair sums (adapters off), computed once.
public struct ReferenceLogps: Codable, Sendable, Equatable {
    public var chosen: [Double]
    public var rejected: [Double]
    public var chosenTail: [Double]
    public var rejectedTail: [Double]
    /// TRL's logits/* inputs are policy-side, so only log-probs are kept here.
    public init(chosen: [Double] = [], rejected: [Double] = [], chosenTail: [Double] = [], rejectedTail: [Double] = []) {
        self.chosen = chosen
        self.rejected = rejected
        self.chosenTail = chosenTail
        self.rejectedTail = rejectedTail
    }

    public var count: Int { chosen.count }

    public subscript(_ indices: [Int]) -> ReferenceLogps {
        ReferenceLogps(
            chosen: indices.map { chosen[$0] }, rejected: indices.map { rejected[$0] },
            chosenTail: indices.map { chosenTail[$0] }, rejectedTail: indices.map { rejectedTail[$0] })
    }
}

public enum PairScoring {
    /// Splits `indices` into consecutive groups whose packed streams stay near `tokenBudget` tokens.
    public static func groups(_ indices: [Int], pairs: [TokenizedPair], tokenBudget: Int) -> [[Int]] {
        var out: [[Int]] = []
        var cur: [Int] = []
        var tokens = 0
        for i in indices {
            let n = pairs[i].chosen.ids.count + pairs[i].rejected.ids.count
            if !cur.isEmpty && tokens + n > tokenBudget {
                out.append(cur)
                cur = []
                tokens = 0
            }
            cur.append(i)
            tokens += n
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Log-prob sums of every pair under `model` with `adapter` (nil or disabled: the reference), packed in
    /// `groups` of pair indices (nil: consecutive groups of about `tokenBudget` tokens; pairs in no group
    /// stay 0); `progress(done, total)` after each group, counting the pairs of the groups. A sequence's
    /// log-probs depend (in the last bits) on where it sits in the packed stream, so a caller that compares
    /// against another pass packs both passes the same way.
    public static func score(
        _ pairs: [TokenizedPair], model: LlamaModel, adapter: LoRAAdapter?, tokenBudget: Int = 4096, groups: [[Int]]? = nil,
        sharePrompts: Bool = true, progress: ((Int, Int) -> Void)? = nil
    ) throws -> (ReferenceLogps, logitSums: (chosen: [Double], rejected: [Double])) {
        let n = pairs.count
        var r = ReferenceLogps(
            chosen: Array(repeating: 0, count: n), rejected: Array(repeating: 0, count: n),
            chosenTail: Array(repeating: 0, count: n), rejectedTail: Array(repeating: 0, count: n))
        var lc = [Double](repeating: 0, count: n)
        var lr = [Double](repeating: 0, count: n)
        var done = 0
        let groups = groups ?? Self.groups(Array(pairs.indices), pairs: pairs, tokenBudget: tokenBudget)
        let total = groups.reduce(0) { $0 + $1.count }
        for g in groups where !g.isEmpty {
            let pb = PairBatch(pairs: g.map { pairs[$0] }, sharePrompts: sharePrompts)
            let lp = try model.sequenceLogProbs(batch: pb.batch, completionRanges: pb.ranges, adapter: adapter)
            let s = pb.sums(lp)
            for (k, i) in g.enumerated() {
                r.chosen[i] = s.chosen[k]
                r.rejected[i] = s.rejected[k]
                r.chosenTail[i] = s.chosenTail[k]
                r.rejectedTail[i] = s.rejectedTail[k]
                lc[i] = s.chosenLogitSums[k]
                lr[i] = s.rejectedLogitSums[k]
            }
            done += g.count
            progress?(done, total)
        }
        return (r, (lc, lr))
    }
}
