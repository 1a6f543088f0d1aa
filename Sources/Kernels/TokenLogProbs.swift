// The LM head fused with log-softmax, evaluated only at selected rows and never as a full (N, V) matrix:
// logits are computed a vocabulary chunk at a time (one sgemm per chunk), folded into an online
// logsumexp, and the target's logit is picked out. Backward recomputes each chunk — or, for training,
// the forward also folds the softmax-weighted mean of the head's rows, E_p[W] (one more sgemm per
// chunk), and the backward is then one (D)-vector per row: no logits recomputed. The same pass can fold the
// statistics TRL's metrics and WPO take from the full distribution (entropy, log Σ p², argmax), so they
// never need a second pass over the vocabulary. An optional soft cap (Gemma 2's final_logit_softcapping)
// replaces every logit l by cap·tanh(l/cap) before anything else sees it, in the forward, the backward
// and the full logits.
// N selected rows, D model dim, V vocab, C vocab chunk.

import Foundation
import TensorFile

public enum TokenLogProbs {
    public static let defaultChunk = 2048

    // MARK: - Scratch

    /// Floats of scratch forward/backward need: logits (N, C), two running values per row, a decoded
    /// weight chunk (C, D) unless the weight is f32, and with a soft cap the cap's slopes (N, C).
    public static func scratchFloats(
        rows: Int, dim: Int, vocab: Int, dtype: DType, chunk: Int = defaultChunk, softcap: Bool = false
    ) -> Int {
        let c = min(chunk, vocab)
        return rows * c + 2 * rows + (dtype == .f32 ? 0 : c * dim) + (softcap ? rows * c : 0)
    }

    /// l = cap·tanh(l/cap) over a row (transformers' order: divide, tanh, multiply); with `slopes` also
    /// d(capped)/dl = 1 − tanh² per entry.
    @inline(__always) static func cap(_ row: UnsafeMutablePointer<Float>, _ n: Int, _ cap: Float, slopes: UnsafeMutablePointer<Float>?) {
        for j in 0..<n {
            let th = Foundation.tanh(row[j] / cap)
            row[j] = cap * th
            if let slopes { slopes[j] = 1 - th * th }
        }
    }

    /// The vocabulary chunk [v0, v0+count) as f32 (in place for f32 weights, else decoded into `buffer`).
    static func vocabChunk(_ weight: WeightMatrix, _ v0: Int, _ count: Int, _ buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        if let w = weight.floats { return w + v0 * weight.cols }
        weight.decodeRows(v0, count: count, into: buffer)
        return UnsafePointer(buffer)
    }

    /// Floats of the extra scratch `forward(referenceHidden:kl:)` needs: the reference's logits (N, C) and
    /// its running max and sum.
    public static func referenceScratchFloats(rows: Int, vocab: Int, chunk: Int = defaultChunk) -> Int {
        rows * min(chunk, vocab) + 2 * rows
    }

    // MARK: - Forward

    /// logps[n] = logit[n, targets[n]] − lse[n], lse[n] = log Σ_v exp(logit[n, v]), logit = hidden·Wᵀ.
    /// `logitMeans` (optional) receives Σ_v logit[n, v] / V per row (TRL's logits/* metrics).
    /// `expected` (optional) receives Σ_v softmax(logit[n])_v · W[v] per row, for `backward(expected:)`.
    /// `entropy` (optional) receives −Σ_v p·log p per row (TRL's `entropy`), `logSumSquares` log Σ_v p²
    /// (TRL's `log_sum_sq_probs`, WPO's weights), `argmax` the first index of the largest logit (TRL's
    /// `is_top1` is argmax == target). All three are folded online next to the running logsumexp.
    /// `kl` (optional, with `referenceHidden` and `referenceScratch`) receives KL(p‖q) = Σ_v p·(log p − log q)
    /// per row, q = softmax(referenceHidden·Wᵀ): one more sgemm per chunk, never a full (N, V) matrix.
    /// `softcap` caps every logit (the reference's too); `expected` then holds Σ_v p_v·(1 − tanh²_v)·W[v],
    /// and `targetSlope` (needed with both) the target's 1 − tanh², for `backward(expected:targetSlope:)`.
    public static func forward(
        logps: UnsafeMutablePointer<Float>,  // (N)
        lse: UnsafeMutablePointer<Float>,  // (N)
        logitMeans: UnsafeMutablePointer<Float>? = nil,  // (N)
        entropy: UnsafeMutablePointer<Float>? = nil,  // (N)
        logSumSquares: UnsafeMutablePointer<Float>? = nil,  // (N)
        argmax: UnsafeMutablePointer<Int32>? = nil,  // (N)
        kl: UnsafeMutablePointer<Float>? = nil,  // (N)
        referenceHidden: UnsafePointer<Float>? = nil,  // (N, D)
        referenceScratch: UnsafeMutablePointer<Float>? = nil,  // (referenceScratchFloats)
        expected: UnsafeMutablePointer<Float>? = nil,  // (N, D)
        hidden: UnsafePointer<Float>,  // (N, D)
        targets: UnsafePointer<Int32>,  // (N)
        weight: WeightMatrix,  // (V, D)
        rows n: Int,
        scratch: UnsafeMutableBufferPointer<Float>,  // (scratchFloats)
        chunk: Int = defaultChunk,
        softcap: Float? = nil,
        targetSlope: UnsafeMutablePointer<Float>? = nil  // (N)
    ) {
        let d = weight.cols, vocab = weight.rows, c = min(chunk, vocab)
        precondition(
            scratch.count >= scratchFloats(rows: n, dim: d, vocab: vocab, dtype: weight.dtype, chunk: chunk, softcap: softcap != nil),
            "TokenLogProbs scratch is too small")
        precondition(softcap == nil || expected == nil || targetSlope != nil, "a capped expected needs targetSlope")
        for i in 0..<n { precondition(targets[i] >= 0 && Int(targets[i]) < vocab, "target \(targets[i]) is outside the vocabulary (\(vocab))") }
        let logits = scratch.baseAddress!  // (N, C)
        let runMax = logits + n * c, runSum = runMax + n  // (N), (N)
        let wbuf = runSum + n  // (C, D)
        let slopeBuf = wbuf + (weight.dtype == .f32 ? 0 : c * d)  // (N, C) with a soft cap and expected
        precondition((kl == nil) == (referenceHidden == nil) && (kl == nil) == (referenceScratch == nil), "kl needs referenceHidden and its scratch")
        let refLogits = referenceScratch  // (N, C)
        let refMax = referenceScratch.map { $0 + n * c }, refSum = referenceScratch.map { $0 + n * c + n }  // (N), (N)
        var v0 = 0
        while v0 < vocab {
            let cn = min(c, vocab - v0)
            let w = vocabChunk(weight, v0, cn, wbuf)
            // logits = hidden·W[v0..<v0+cn]ᵀ
            BLAS.parallelSgemm(transA: false, transB: true, m: n, n: cn, k: d, alpha: 1, a: hidden, lda: d, b: w, ldb: d, beta: 0, c: logits, ldc: cn)
            if let referenceHidden, let refLogits {
                BLAS.parallelSgemm(
                    transA: false, transB: true, m: n, n: cn, k: d, alpha: 1, a: referenceHidden, lda: d, b: w, ldb: d, beta: 0, c: refLogits,
                    ldc: cn)
            }
            let first = v0 == 0
            let start = v0
            Parallel.forChunks(count: n, minChunk: max(1, 16_384 / cn)) { range, _ in
                for i in range {
                    let row = logits + i * cn
                    let slopes: UnsafeMutablePointer<Float>? = softcap != nil && expected != nil ? slopeBuf + i * cn : nil
                    if let softcap {
                        cap(row, cn, softcap, slopes: slopes)
                        if let refLogits { cap(refLogits + i * cn, cn, softcap, slopes: nil) }
                    }
                    let t = Int(targets[i]) - start
                    if t >= 0 && t < cn {
                        logps[i] = row[t]
                        if let targetSlope, let softcap { targetSlope[i] = 1 - (row[t] / softcap) * (row[t] / softcap) }
                    }
                    if let logitMeans {
                        var acc = SIMD8<Float>()
                        var j = 0
                        while j + 8 <= cn {
                            acc += load8(row + j)
                            j += 8
                        }
                        var sum = acc.sum()
                        while j < cn {
                            sum += row[j]
                            j += 1
                        }
                        logitMeans[i] = first ? sum : logitMeans[i] + sum
                    }
                    // online logsumexp: m' = max(m, max chunk); s' = s·e^(m−m') + Σ e^(l−m')
                    let mx = maximum(row, cn)
                    if let argmax, first || mx > runMax[i] {  // strict: an earlier chunk keeps a tie (first maximum)
                        var j = 0
                        while j < cn - 1 && row[j] != mx { j += 1 }
                        argmax[i] = Int32(start + j)
                    }
                    let m = first ? mx : max(runMax[i], mx)
                    let rescale = first ? 1 : fastExp(runMax[i] - m)
                    if let kl, let refLogits, let refMax, let refSum {
                        // kl holds Σ e^(l−m')·(l − r) (rescaled like the sum); the reference's own online logsumexp.
                        let refRow = refLogits + i * cn
                        var acc: Float = 0
                        for j in 0..<cn { acc += fastExp(row[j] - m) * (row[j] - refRow[j]) }
                        kl[i] = first ? acc : kl[i] * rescale + acc
                        let rmx = maximum(refRow, cn)
                        let rm = first ? rmx : max(refMax[i], rmx)
                        let refChunk = expShiftSum(refRow, cn, shift: rm)
                        refSum[i] = first ? refChunk : refSum[i] * fastExp(refMax[i] - rm) + refChunk
                        refMax[i] = rm
                    }
                    if entropy != nil || logSumSquares != nil {
                        // u = l − m'; entropy holds Σ e^u·u, logSumSquares Σ e^(2u), both rescaled to the new max:
                        // Σ e^(l−m')(l−m') = r·(Σ e^(l−m)(l−m) + (m−m')·Σ e^(l−m)), r = e^(m−m').
                        let (chunkSum, chunkMoment, chunkSquares) = expShiftMoments(row, cn, shift: m)  // row = e^(l−m')
                        if let entropy {
                            entropy[i] = first ? chunkMoment : rescale * (entropy[i] + (runMax[i] - m) * runSum[i]) + chunkMoment
                        }
                        if let logSumSquares {
                            logSumSquares[i] = first ? chunkSquares : rescale * rescale * logSumSquares[i] + chunkSquares
                        }
                        runSum[i] = first ? chunkSum : runSum[i] * rescale + chunkSum
                    } else {
                        let chunkSum = expShiftSum(row, cn, shift: m)  // row = e^(l−m')
                        runSum[i] = first ? chunkSum : runSum[i] * rescale + chunkSum
                    }
                    runMax[i] = m
                    // expected accumulates Σ e^(l−m')·W[v] unnormalized: rescale the earlier chunks' sum
                    if let expected, !first, rescale != 1 { scale(expected + i * d, rescale, d) }
                    // capped: the weights become e^(l−m')·(1 − tanh²)
                    if let slopes { for j in 0..<cn { row[j] *= slopes[j] } }
                }
            }
            if let expected {
                // expected (+)= e^(l−m')·W[v0..<v0+cn]
                BLAS.parallelSgemm(
                    transA: false, transB: false, m: n, n: d, k: cn, alpha: 1, a: logits, lda: cn, b: w, ldb: d,
                    beta: first ? 0 : 1, c: expected, ldc: d)
            }
            v0 += cn
        }
        for i in 0..<n {
            lse[i] = runMax[i] + Foundation.log(runSum[i])
            logps[i] -= lse[i]
            if let logitMeans { logitMeans[i] /= Float(vocab) }
            // H = −Σ p·log p = log S − Σ e^u·u / S; log Σ p² = log Σ e^(2u) − 2·log S (u = l − m)
            if let entropy { entropy[i] = Foundation.log(runSum[i]) - entropy[i] / runSum[i] }
            if let logSumSquares { logSumSquares[i] = Foundation.log(logSumSquares[i]) - 2 * Foundation.log(runSum[i]) }
            // KL = Σ p·(l − r) − lse + lse_ref; clamped at 0 against rounding (it is ≥ 0 exactly)
            if let kl, let refMax, let refSum {
                kl[i] = max(0, kl[i] / runSum[i] - lse[i] + refMax[i] + Foundation.log(refSum[i]))
            }
            if let expected { scale(expected + i * d, 1 / runSum[i], d) }
        }
    }

    /// a[i] = exp(a[i] − shift) for i < n, returning Σ e, Σ e·(a[i] − shift) and Σ e² (eight-lane partial sums).
    @inline(__always) static func expShiftMoments(_ a: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> (Float, Float, Float) {
        var acc = SIMD8<Float>(), accMoment = SIMD8<Float>(), accSquares = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let u = load8(a + i) - shift
            let e = fastExp(u)
            store8(e, a + i)
            acc += e
            accMoment += e * u
            accSquares += e * e
            i += 8
        }
        var s = acc.sum(), moment = accMoment.sum(), squares = accSquares.sum()
        while i < n {
            let u = a[i] - shift
            let e = fastExp(u)
            a[i] = e
            s += e
            moment += e * u
            squares += e * e
            i += 1
        }
        return (s, moment, squares)
    }

    // MARK: - Backward

    /// dhidden = Σ_n dlogps[n] · (W[targets[n]] − Σ_v softmax(logit[n])_v · W[v]) (overwritten).
    /// Differentiates `logps = logit[target] − logsumexp(logit); logit = hidden·Wᵀ`:
    /// dlogit[n, v] = dlogps[n] · (δ(v, target) − e^(logit[n, v] − lse[n])); dhidden = dlogit·W.
    /// With `softcap` the logit is cap·tanh(raw/cap) and dlogit is further multiplied by 1 − tanh².
    public static func backward(
        dhidden: UnsafeMutablePointer<Float>,  // (N, D)
        dlogps: UnsafePointer<Float>,  // (N)
        hidden: UnsafePointer<Float>,  // (N, D)
        targets: UnsafePointer<Int32>,  // (N)
        lse: UnsafePointer<Float>,  // (N)
        weight: WeightMatrix,  // (V, D)
        rows n: Int,
        scratch: UnsafeMutableBufferPointer<Float>,  // (scratchFloats)
        chunk: Int = defaultChunk,
        softcap: Float? = nil
    ) {
        let d = weight.cols, vocab = weight.rows, c = min(chunk, vocab)
        precondition(
            scratch.count >= scratchFloats(rows: n, dim: d, vocab: vocab, dtype: weight.dtype, chunk: chunk), "TokenLogProbs scratch is too small")
        let dlogits = scratch.baseAddress!  // (N, C)
        let wbuf = dlogits + n * c + 2 * n  // (C, D)
        var v0 = 0
        while v0 < vocab {
            let cn = min(c, vocab - v0)
            let w = vocabChunk(weight, v0, cn, wbuf)
            BLAS.parallelSgemm(
                transA: false, transB: true, m: n, n: cn, k: d, alpha: 1, a: hidden, lda: d, b: w, ldb: d, beta: 0, c: dlogits, ldc: cn)
            let start = v0
            Parallel.forChunks(count: n, minChunk: max(1, 16_384 / cn)) { range, _ in
                for i in range {
                    let row = dlogits + i * cn
                    let g = dlogps[i]
                    if let softcap {
                        let t = Int(targets[i]) - start
                        for j in 0..<cn {
                            let th = Foundation.tanh(row[j] / softcap)
                            let p = fastExp(softcap * th - lse[i])
                            row[j] = g * ((j == t ? 1 : 0) - p) * (1 - th * th)
                        }
                        continue
                    }
                    _ = expShiftSum(row, cn, shift: lse[i])
                    var j = 0
                    while j + 8 <= cn {
                        store8(load8(row + j) * -g, row + j)
                        j += 8
                    }
                    while j < cn {
                        row[j] *= -g
                        j += 1
                    }
                    let t = Int(targets[i]) - start
                    if t >= 0 && t < cn { row[t] += g }
                }
            }
            // dhidden (+)= dlogits·W[v0..<v0+cn]
            BLAS.parallelSgemm(
                transA: false, transB: false, m: n, n: d, k: cn, alpha: 1, a: dlogits, lda: cn, b: w, ldb: d,
                beta: v0 == 0 ? 0 : 1, c: dhidden, ldc: d)
            v0 += cn
        }
    }

    /// dhidden[n] = dlogps[n] · (s·W[targets[n]] − expected[n]) (overwritten), with `expected` from the
    /// forward: the same gradient as `backward`, without recomputing the logits. s is 1, or with a soft cap
    /// the forward's `targetSlope`. `rowScratch` holds one decoded row (D floats) for a non-f32 weight.
    public static func backward(
        dhidden: UnsafeMutablePointer<Float>,  // (N, D)
        dlogps: UnsafePointer<Float>,  // (N)
        expected: UnsafePointer<Float>,  // (N, D)
        targets: UnsafePointer<Int32>,  // (N)
        weight: WeightMatrix,  // (V, D)
        rows n: Int,
        rowScratch: UnsafeMutablePointer<Float>,  // (D)
        targetSlope: UnsafePointer<Float>? = nil  // (N)
    ) {
        let d = weight.cols
        for i in 0..<n {
            let t = Int(targets[i])
            precondition(t >= 0 && t < weight.rows, "target \(t) is outside the vocabulary (\(weight.rows))")
            let wt: UnsafePointer<Float>
            if let w = weight.floats {
                wt = w + t * d
            } else {
                weight.dtype.decode(weight.row(t), into: rowScratch, count: d)
                wt = UnsafePointer(rowScratch)
            }
            let g = dlogps[i], out = dhidden + i * d, e = expected + i * d
            let st = targetSlope?[i] ?? 1
            for j in 0..<d { out[j] = g * (st * wt[j] - e[j]) }
        }
    }

    // MARK: - Full logits

    /// Floats of scratch `logits` needs (a decoded weight chunk unless the weight is f32).
    public static func logitsScratchFloats(dim: Int, vocab: Int, dtype: DType, chunk: Int = defaultChunk) -> Int {
        dtype == .f32 ? 0 : min(chunk, vocab) * dim
    }

    /// out = hidden·Wᵀ for a few rows (generation, inspection), each capped when `softcap` is given.
    public static func logits(
        out: UnsafeMutablePointer<Float>,  // (N, V)
        hidden: UnsafePointer<Float>,  // (N, D)
        weight: WeightMatrix,  // (V, D)
        rows n: Int,
        scratch: UnsafeMutablePointer<Float>?,  // (logitsScratchFloats)
        chunk: Int = defaultChunk,
        softcap: Float? = nil
    ) {
        let d = weight.cols, vocab = weight.rows
        defer { if let softcap { cap(out, n * vocab, softcap, slopes: nil) } }
        if let w = weight.floats {
            BLAS.parallelSgemm(
                transA: false, transB: true, m: n, n: vocab, k: d, alpha: 1, a: hidden, lda: d, b: w, ldb: d, beta: 0, c: out, ldc: vocab)
            return
        }
        guard let scratch else { preconditionFailure("a \(weight.dtype.rawValue) weight needs scratch") }
        let c = min(chunk, vocab)
        var v0 = 0
        while v0 < vocab {
            let cn = min(c, vocab - v0)
            let w = vocabChunk(weight, v0, cn, scratch)
            BLAS.parallelSgemm(
                transA: false, transB: true, m: n, n: cn, k: d, alpha: 1, a: hidden, lda: d, b: w, ldb: d, beta: 0, c: out + v0, ldc: vocab)
            v0 += cn
        }
    }
}
