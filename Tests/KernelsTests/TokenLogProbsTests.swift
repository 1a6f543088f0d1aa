// TokenLogProbs: chunked online log-softmax against a full Double log_softmax (vocab not divisible by
// the chunk, one-chunk vocab, f32 and quantized weights), the backward against finite differences,
// the training backward from the forward's E_p[W] against both (each also with a final-logit soft cap), and the
// full-logits path.

import Foundation
import Kernels
import SeededRandom
import TensorFile
import Testing

@Suite struct TokenLogProbsTests {
    struct Setup {
        let rows: Int, dim: Int, vocab: Int
        let hidden: [Float], weight: [Float], targets: [Int32]
        init(rows: Int, dim: Int, vocab: Int, hidden: [Float], weight: [Float], targets: [Int32]) {
            self.rows = rows
            self.dim = dim
            self.vocab = vocab
            self.hidden = hidden
            self.weight = weight
            self.targets = targets
        }
        init(rows: Int, dim: Int, vocab: Int, seed: UInt64) {
            self.rows = rows
            self.dim = dim
            self.vocab = vocab
            hidden = randomFloats(rows * dim, seed: seed, scale: 2)
            weight = randomFloats(vocab * dim, seed: seed + 1)
            var g = SplitMix64(seed: seed + 2)
            targets = (0..<rows).map { _ in Int32.random(in: 0..<Int32(vocab), using: &g) }
        }
    }

    static func forward(_ s: Setup, weight: WeightMatrix, chunk: Int, softcap: Float? = nil) -> (logps: [Float], lse: [Float], means: [Float]) {
        var logps = [Float](repeating: .nan, count: s.rows), lse = logps, means = logps
        var scratch = [Float](
            repeating: .nan,
            count: TokenLogProbs.scratchFloats(rows: s.rows, dim: s.dim, vocab: s.vocab, dtype: weight.dtype, chunk: chunk, softcap: softcap != nil))
        scratch.withUnsafeMutableBufferPointer { buf in
            TokenLogProbs.forward(
                logps: &logps, lse: &lse, logitMeans: &means, hidden: s.hidden, targets: s.targets, weight: weight, rows: s.rows,
                scratch: buf, chunk: chunk, softcap: softcap)
        }
        return (logps, lse, means)
    }

    // Logits are sums of 32 products of O(1) values (|logit| up to ~10); lse in f32 over 1000 terms is
    // good to ~1e-6 relative: atol 1e-4 on logps/lse, 1e-5 on the means (a sum of 1000 logits / 1000).
    @Test(arguments: [(DType.f32, 256), (.f32, 4096), (.q8_0, 300), (.q4_1, 1000), (.bf16, 7)])
    func forwardMatchesFullLogSoftmax(dtype: DType, chunk: Int) {
        let s = Setup(rows: 7, dim: 32, vocab: 1000, seed: 80)
        let bytes = FrozenLinearTests.encode(s.weight, dtype)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: s.vocab, cols: s.dim)
            var decoded = [Float](repeating: 0, count: s.vocab * s.dim)
            w.decodeRows(0, count: s.vocab, into: &decoded)
            let ref = Reference.logprobs(
                hidden: s.hidden.doubles, targets: s.targets.map(Int.init), weight: decoded.doubles, rows: s.rows, dim: s.dim, vocab: s.vocab)
            let got = Self.forward(s, weight: w, chunk: chunk)
            expectClose(got.logps, ref.logps, atol: 1e-4, rtol: 1e-5, "\(dtype) chunk \(chunk) logps")
            expectClose(got.lse, ref.lse, atol: 1e-4, rtol: 1e-5, "\(dtype) chunk \(chunk) lse")
            expectClose(got.means, ref.means, atol: 1e-5, rtol: 1e-4, "\(dtype) chunk \(chunk) mean logit")

            // logits(): the plain product, chunked for non-f32 weights.
            var logits = [Float](repeating: .nan, count: s.rows * s.vocab)
            var scratch = [Float](
                repeating: .nan, count: max(1, TokenLogProbs.logitsScratchFloats(dim: s.dim, vocab: s.vocab, dtype: dtype, chunk: chunk)))
            TokenLogProbs.logits(out: &logits, hidden: s.hidden, weight: w, rows: s.rows, scratch: &scratch, chunk: chunk)
            let full = Reference.matmul(inp: s.hidden.doubles, weight: decoded.doubles, bias: nil, m: s.rows, k: s.dim, n: s.vocab)
            expectClose(logits, full, atol: 1e-5, rtol: 1e-5, "\(dtype) logits")
        }
    }

    // The optional statistics against the naive Double reference: entropy and log Σ p² are f32 sums over
    // 1000 terms like lse (atol 1e-4, rtol 1e-5), and the argmax exact; with every output requested the
    // log-probs are the plain forward's bit for bit. Chunks 7 and 256 cross many running-max changes; a
    // row of equal logits (a tie across chunks) must give the first index, as torch's argmax.
    @Test(arguments: [(DType.f32, 256), (.f32, 4096), (.q8_0, 300), (.f32, 7)])
    func statisticsMatchReference(dtype: DType, chunk: Int) {
        var s = Setup(rows: 7, dim: 32, vocab: 1000, seed: 90)
        s = Setup(
            rows: s.rows, dim: s.dim, vocab: s.vocab, hidden: s.hidden.enumerated().map { $0 < s.dim ? 0 : $1 }, weight: s.weight, targets: s.targets)
        let bytes = FrozenLinearTests.encode(s.weight, dtype)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: s.vocab, cols: s.dim)
            var decoded = [Float](repeating: 0, count: s.vocab * s.dim)
            w.decodeRows(0, count: s.vocab, into: &decoded)
            let ref = Reference.distributionStatistics(hidden: s.hidden.doubles, weight: decoded.doubles, rows: s.rows, dim: s.dim, vocab: s.vocab)
            let plain = Self.forward(s, weight: w, chunk: chunk)
            var logps = [Float](repeating: .nan, count: s.rows), lse = logps, means = logps, entropy = logps, squares = logps
            var argmax = [Int32](repeating: -1, count: s.rows)
            var scratch = [Float](
                repeating: .nan, count: TokenLogProbs.scratchFloats(rows: s.rows, dim: s.dim, vocab: s.vocab, dtype: dtype, chunk: chunk))
            scratch.withUnsafeMutableBufferPointer { buf in
                TokenLogProbs.forward(
                    logps: &logps, lse: &lse, logitMeans: &means, entropy: &entropy, logSumSquares: &squares, argmax: &argmax,
                    hidden: s.hidden, targets: s.targets, weight: w, rows: s.rows, scratch: buf, chunk: chunk)
            }
            expectClose(logps, plain.logps.doubles, atol: 1e-6, rtol: 0, "\(dtype) chunk \(chunk) logps with statistics")
            expectClose(lse, plain.lse.doubles, atol: 1e-6, rtol: 0, "\(dtype) chunk \(chunk) lse with statistics")
            expectClose(entropy, ref.entropy, atol: 1e-4, rtol: 1e-5, "\(dtype) chunk \(chunk) entropy")
            expectClose(squares, ref.logSumSquares, atol: 1e-4, rtol: 1e-5, "\(dtype) chunk \(chunk) log Σ p²")
            #expect(argmax.map(Int.init) == ref.argmax, "\(dtype) chunk \(chunk) argmax")
            #expect(argmax[0] == 0, "a row of equal logits: the first index")
            #expect(abs(Double(entropy[0]) - log(Double(s.vocab))) < 1e-4, "a uniform row: entropy log V")
        }
    }

    // KL(p‖q) against the naive Double reference: a difference of f32 logsumexps over 1000 terms and a
    // p-weighted mean, atol 1e-4; the reference hidden is the policy's plus noise (small KLs, the usual
    // case, and one large). The same hidden on both sides gives exactly 0, as at a run's first step.
    @Test(arguments: [(DType.f32, 256), (.f32, 4096), (.q8_0, 300), (.f32, 7)])
    func klMatchesReference(dtype: DType, chunk: Int) {
        let s = Setup(rows: 5, dim: 32, vocab: 1000, seed: 95)
        let noise = randomFloats(s.rows * s.dim, seed: 96, scale: 0.3)
        var refHidden = zip(s.hidden, noise).map { $0 + $1 }
        for j in 0..<s.dim { refHidden[4 * s.dim + j] = -s.hidden[4 * s.dim + j] }  // row 4: far from the policy
        let bytes = FrozenLinearTests.encode(s.weight, dtype)
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: s.vocab, cols: s.dim)
            var decoded = [Float](repeating: 0, count: s.vocab * s.dim)
            w.decodeRows(0, count: s.vocab, into: &decoded)
            let ref = Reference.kl(
                hidden: s.hidden.doubles, referenceHidden: refHidden.doubles, weight: decoded.doubles, rows: s.rows, dim: s.dim, vocab: s.vocab)
            let plain = Self.forward(s, weight: w, chunk: chunk)
            for (other, expected) in [(refHidden, ref), (s.hidden, [Double](repeating: 0, count: s.rows))] {
                var logps = [Float](repeating: .nan, count: s.rows), lse = logps, kl = logps
                var scratch = [Float](
                    repeating: .nan, count: TokenLogProbs.scratchFloats(rows: s.rows, dim: s.dim, vocab: s.vocab, dtype: dtype, chunk: chunk))
                var refScratch = [Float](repeating: .nan, count: TokenLogProbs.referenceScratchFloats(rows: s.rows, vocab: s.vocab, chunk: chunk))
                scratch.withUnsafeMutableBufferPointer { buf in
                    TokenLogProbs.forward(
                        logps: &logps, lse: &lse, kl: &kl, referenceHidden: other, referenceScratch: &refScratch, hidden: s.hidden,
                        targets: s.targets, weight: w, rows: s.rows, scratch: buf, chunk: chunk)
                }
                #expect(logps == plain.logps && lse == plain.lse, "the KL leaves the log-probs alone")
                expectClose(kl, expected, atol: 1e-4, rtol: 1e-4, "\(dtype) chunk \(chunk) KL")
            }
            #expect(ref[4] > 1, "row 4 is a large KL (\(ref[4]))")
        }
    }

    /// d(Σ dlogps·logps)/d hidden by central differences (eps 1e-3) on the Double reference.
    static func finiteDifferences(_ s: Setup, dlogps: [Float], softcap: Float? = nil) -> [Double] {
        centralDifferences(s.hidden.doubles, eps: 1e-3) {
            weighted(
                Reference.logprobs(
                    hidden: $0, targets: s.targets.map(Int.init), weight: s.weight.doubles, rows: s.rows, dim: s.dim, vocab: s.vocab,
                    softcap: softcap.map(Double.init)
                ).logps,
                dlogps.doubles)
        }
    }

    // loss = Σ dlogps·logps. eps 1e-3 on a smooth function (log-sum-exp of linear maps): truncation
    // ~1e-7; atol 1e-5, rtol 1e-3. Vocab 37 with chunk 16 (chunks 16, 16, 5). With a final-logit soft cap
    // (Gemma 2's) of 1.5 below the logits' size (|l| reaches ~6 here), 1 − tanh²(l/cap) falls under 0.01 for
    // the largest logits: without the cap's derivative the gradient is off by far more than the tolerance.
    @Test(arguments: [nil, 1.5] as [Float?])
    func backwardMatchesFiniteDifferences(softcap: Float?) {
        let s = Setup(rows: 5, dim: 8, vocab: 37, seed: 81)
        let dlogps = randomFloats(s.rows, seed: 84)
        s.weight.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, dtype: .f32, rows: s.vocab, cols: s.dim)
            let (_, lse, _) = Self.forward(s, weight: w, chunk: 16, softcap: softcap)
            var dhidden = [Float](repeating: .nan, count: s.rows * s.dim)
            var scratch = [Float](
                repeating: .nan,
                count: TokenLogProbs.scratchFloats(rows: s.rows, dim: s.dim, vocab: s.vocab, dtype: .f32, chunk: 16, softcap: softcap != nil))
            scratch.withUnsafeMutableBufferPointer { buf in
                TokenLogProbs.backward(
                    dhidden: &dhidden, dlogps: dlogps, hidden: s.hidden, targets: s.targets, lse: lse, weight: w, rows: s.rows,
                    scratch: buf, chunk: 16, softcap: softcap)
            }
            expectClose(dhidden, Self.finiteDifferences(s, dlogps: dlogps, softcap: softcap), atol: 1e-5, rtol: 1e-3, "dhidden cap \(softcap ?? 0)")
        }
    }

    // A quantized weight gives the same gradient as its decoded f32 copy (same data, chunked decode):
    // atol/rtol 1e-5.
    @Test func quantizedBackwardMatchesDecoded() {
        let s = Setup(rows: 6, dim: 64, vocab: 333, seed: 85)
        let dlogps = randomFloats(s.rows, seed: 86)
        let bytes = quantizeQ8_0(s.weight)
        bytes.withUnsafeBytes { raw in
            let wq = WeightMatrix(base: raw.baseAddress!, dtype: .q8_0, rows: s.vocab, cols: s.dim)
            var decoded = [Float](repeating: 0, count: s.vocab * s.dim)
            wq.decodeRows(0, count: s.vocab, into: &decoded)
            decoded.withUnsafeBytes { draw in
                let wf = WeightMatrix(base: draw.baseAddress!, dtype: .f32, rows: s.vocab, cols: s.dim)
                var results: [[Float]] = []
                for w in [wq, wf] {
                    let (_, lse, _) = Self.forward(s, weight: w, chunk: 100)
                    var dhidden = [Float](repeating: .nan, count: s.rows * s.dim)
                    var scratch = [Float](
                        repeating: .nan, count: TokenLogProbs.scratchFloats(rows: s.rows, dim: s.dim, vocab: s.vocab, dtype: w.dtype, chunk: 100))
                    scratch.withUnsafeMutableBufferPointer { buf in
                        TokenLogProbs.backward(
                            dhidden: &dhidden, dlogps: dlogps, hidden: s.hidden, targets: s.targets, lse: lse, weight: w, rows: s.rows,
                            scratch: buf, chunk: 100)
                    }
                    results.append(dhidden)
                }
                expectClose(results[0], results[1].doubles, atol: 1e-5, rtol: 1e-5, "q8_0 vs decoded dhidden")
            }
        }
    }

    // The forward's E_p[W] (folded chunk by chunk with the running max rescaled) gives the recomputing
    // backward's dhidden: same f32 products in another order, atol/rtol 1e-5; and the finite differences
    // (atol 1e-5, rtol 1e-3) on the small f32 cases. The forward's other outputs are unchanged by it. With a
    // soft cap of 5 (logits here have a spread of ~4), E_p[(1 − tanh²)·W] and the target's slope.
    @Test(
        arguments: [
            (DType.f32, 37, 16, nil), (.f32, 1000, 4096, nil), (.q8_0, 333, 100, nil), (.f32, 333, 7, nil), (.f32, 37, 16, 5),
            (.f32, 333, 7, 5), (.q8_0, 333, 100, 5),
        ] as [(DType, Int, Int, Float?)])
    func backwardFromExpectedMatches(dtype: DType, vocab: Int, chunk: Int, softcap: Float?) {
        let s = Setup(rows: 6, dim: 32, vocab: vocab, seed: 87)
        let bytes = FrozenLinearTests.encode(s.weight, dtype)
        bytes.withUnsafeBytes { raw in
            Self.checkBackwardFromExpected(s, WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: s.vocab, cols: s.dim), chunk, softcap)
        }
    }

    static func checkBackwardFromExpected(_ s: Setup, _ w: WeightMatrix, _ chunk: Int, _ softcap: Float?) {
        let dlogps = randomFloats(s.rows, seed: 88)
        let label = "\(w.dtype) V\(s.vocab) chunk \(chunk) cap \(softcap ?? 0)"
        let plain = Self.forward(s, weight: w, chunk: chunk, softcap: softcap)
        var logps = [Float](repeating: .nan, count: s.rows), lse = logps, means = logps
        var slope = [Float](repeating: 1, count: s.rows)  // the forward writes it only with a cap; 1 is no cap's slope
        var expected = [Float](repeating: .nan, count: s.rows * s.dim)
        var scratch = [Float](
            repeating: .nan,
            count: TokenLogProbs.scratchFloats(rows: s.rows, dim: s.dim, vocab: s.vocab, dtype: w.dtype, chunk: chunk, softcap: softcap != nil))
        var recomputed = [Float](repeating: .nan, count: s.rows * s.dim)
        scratch.withUnsafeMutableBufferPointer { buf in
            TokenLogProbs.forward(
                logps: &logps, lse: &lse, logitMeans: &means, expected: &expected, hidden: s.hidden, targets: s.targets, weight: w,
                rows: s.rows, scratch: buf, chunk: chunk, softcap: softcap, targetSlope: &slope)
            TokenLogProbs.backward(
                dhidden: &recomputed, dlogps: dlogps, hidden: s.hidden, targets: s.targets, lse: lse, weight: w, rows: s.rows,
                scratch: buf, chunk: chunk, softcap: softcap)
        }
        #expect(logps == plain.logps && lse == plain.lse && means == plain.means, "\(label)")
        var dhidden = [Float](repeating: .nan, count: s.rows * s.dim)
        var row = [Float](repeating: .nan, count: s.dim)
        TokenLogProbs.backward(
            dhidden: &dhidden, dlogps: dlogps, expected: expected, targets: s.targets, weight: w, rows: s.rows, rowScratch: &row,
            targetSlope: slope)
        expectClose(dhidden, recomputed.doubles, atol: 1e-5, rtol: 1e-5, "\(label): from E_p[W] vs recomputed")
        if w.dtype == .f32 && s.vocab < 100 {
            expectClose(
                dhidden, Self.finiteDifferences(s, dlogps: dlogps, softcap: softcap), atol: 1e-5, rtol: 1e-3, "\(label): vs finite differences")
        }
    }
}
