// Causal grouped-query attention over a packed token stream holding several sequences: a token attends
// only to itself and earlier tokens of its own segment. Forward saves each (token, head)'s logsumexp;
// backward recomputes the probabilities from it (FlashAttention-style). Query blocks of B rows run as
// sgemms against the keys they can see; workers take (segment, head) tasks. Also the one-token decode
// step against a KV cache, for generation.
// T tokens, H query heads, Hk kv heads, Dh head dim, L segment length, B query block rows.

import Foundation

public enum Attention {
    /// Query rows per block (B).
    public static let blockRows = 64

    // MARK: - Scratch

    /// Floats of scratch `forward`/`backward` need for segments up to `maxSegmentLength` tokens with
    /// `threads` workers (2·B·L per worker).
    public static func scratchFloats(maxSegmentLength: Int, threads: Int = Parallel.threads) -> Int {
        max(1, threads) * perWorker(maxSegmentLength)
    }

    static func perWorker(_ l: Int) -> Int { 2 * min(blockRows, l) * l }

    static func checkShapes(
        _ segments: [Range<Int>], _ heads: Int, _ kvHeads: Int, _ headDim: Int, _ scratch: UnsafeMutableBufferPointer<Float>
    ) -> (longest: Int, stride: Int) {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && headDim > 0)
        var longest = 0
        for s in segments {
            precondition(s.lowerBound >= 0, "segment \(s) starts before token 0")
            longest = max(longest, s.count)
        }
        let stride = perWorker(longest)
        let workers = min(Parallel.threads, segments.count * heads)
        precondition(scratch.count >= workers * stride, "attention scratch holds \(scratch.count) floats, needs \(workers * stride)")
        return (longest, stride)
    }

    // MARK: - Forward

    /// out = softmax(q·kᵀ/√Dh + causal mask)·v per segment and head; lse = log Σ exp of each score row.
    /// Tokens outside every segment are left untouched.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (T, H·Dh)
        lse: UnsafeMutablePointer<Float>,  // (T, H)
        q: UnsafePointer<Float>,  // (T, H·Dh)
        k: UnsafePointer<Float>,  // (T, Hk·Dh)
        v: UnsafePointer<Float>,  // (T, Hk·Dh)
        segments: [Range<Int>],
        heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutableBufferPointer<Float>  // (scratchFloats)
    ) {
        let (_, stride) = checkShapes(segments, heads, kvHeads, headDim, scratch)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = Float(1 / Double(dh).squareRoot())
        BLAS.withThreads(Parallel.threads > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: segments.count * heads) { task, worker in
                let seg = segments[task / heads], h = task % heads, g = h / group
                let t0 = seg.lowerBound, l = seg.count
                let s = scratch.baseAddress! + worker * stride  // (B, L) scores, then probabilities
                let qh = q + t0 * ldq + h * dh, kg = k + t0 * ldk + g * dh, vg = v + t0 * ldk + g * dh
                let oh = out + t0 * ldq + h * dh
                var i0 = 0
                while i0 < l {
                    let nb = min(blockRows, l - i0), nk = i0 + nb
                    // s = scale · q[i0..<i0+nb]·k[0..<nk]ᵀ
                    BLAS.sgemm(
                        transA: false, transB: true, m: nb, n: nk, k: dh, alpha: scale, a: qh + i0 * ldq, lda: ldq,
                        b: kg, ldb: ldk, beta: 0, c: s, ldc: nk)
                    for r in 0..<nb {
                        let row = s + r * nk, valid = i0 + r + 1
                        let mx = maximum(row, valid)
                        let sum = expShiftSum(row, valid, shift: mx)
                        let inv = 1 / sum
                        for j in 0..<valid { row[j] *= inv }
                        (row + valid).update(repeating: 0, count: nk - valid)
                        lse[(t0 + i0 + r) * heads + h] = mx + Foundation.log(sum)
                    }
                    // out[i0..<i0+nb] = p·v[0..<nk]
                    BLAS.sgemm(
                        transA: false, transB: false, m: nb, n: dh, k: nk, alpha: 1, a: s, lda: nk, b: vg, ldb: ldk,
                        beta: 0, c: oh + i0 * ldq, ldc: ldq)
                    i0 += nb
                }
            }
        }
    }

    // MARK: - Backward

    /// dq, dk, dv (overwritten on the segments' tokens). Differentiates, per segment and head,
    /// `s = scale·q·kᵀ; p = softmax(s) (causal); out = p·v`:
    /// dv += pᵀ·dout; dp = dout·vᵀ; ds = p ⊙ (dp − rowsum(dout ⊙ out)); dq = scale·ds·k; dk += scale·dsᵀ·q.
    /// A kv head's task loops over its query heads, so dk and dv have a single writer.
    public static func backward(
        dq: UnsafeMutablePointer<Float>,  // (T, H·Dh)
        dk: UnsafeMutablePointer<Float>,  // (T, Hk·Dh)
        dv: UnsafeMutablePointer<Float>,  // (T, Hk·Dh)
        dout: UnsafePointer<Float>,  // (T, H·Dh)
        q: UnsafePointer<Float>,  // (T, H·Dh)
        k: UnsafePointer<Float>,  // (T, Hk·Dh)
        v: UnsafePointer<Float>,  // (T, Hk·Dh)
        out: UnsafePointer<Float>,  // (T, H·Dh)
        lse: UnsafePointer<Float>,  // (T, H)
        segments: [Range<Int>],
        heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutableBufferPointer<Float>  // (scratchFloats)
    ) {
        let (longest, stride) = checkShapes(segments, heads, kvHeads, headDim, scratch)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = Float(1 / Double(dh).squareRoot())
        let bMax = min(blockRows, longest)
        BLAS.withThreads(Parallel.threads > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: segments.count * kvHeads) { task, worker in
                let seg = segments[task / kvHeads], g = task % kvHeads
                let t0 = seg.lowerBound, l = seg.count
                let p = scratch.baseAddress! + worker * stride  // (B, L)
                let ds = p + bMax * longest  // (B, L)
                let kg = k + t0 * ldk + g * dh, vg = v + t0 * ldk + g * dh
                let dkg = dk + t0 * ldk + g * dh, dvg = dv + t0 * ldk + g * dh
                for t in 0..<l {
                    (dkg + t * ldk).update(repeating: 0, count: dh)
                    (dvg + t * ldk).update(repeating: 0, count: dh)
                }
                for h in (g * group)..<((g + 1) * group) {
                    let qh = q + t0 * ldq + h * dh, oh = out + t0 * ldq + h * dh
                    let doh = dout + t0 * ldq + h * dh, dqh = dq + t0 * ldq + h * dh
                    var i0 = 0
                    while i0 < l {
                        let nb = min(blockRows, l - i0), nk = i0 + nb
                        // p = exp(scale · q·kᵀ − lse), recomputed
                        BLAS.sgemm(
                            transA: false, transB: true, m: nb, n: nk, k: dh, alpha: scale, a: qh + i0 * ldq, lda: ldq,
                            b: kg, ldb: ldk, beta: 0, c: p, ldc: nk)
                        // dp = dout·vᵀ
                        BLAS.sgemm(
                            transA: false, transB: true, m: nb, n: nk, k: dh, alpha: 1, a: doh + i0 * ldq, lda: ldq,
                            b: vg, ldb: ldk, beta: 0, c: ds, ldc: nk)
                        for r in 0..<nb {
                            let i = i0 + r, valid = i + 1
                            let prow = p + r * nk, drow = ds + r * nk
                            _ = expShiftSum(prow, valid, shift: lse[(t0 + i) * heads + h])
                            (prow + valid).update(repeating: 0, count: nk - valid)
                            // ds = p ⊙ (dp − Σ_d dout·out)
                            let delta = dot(doh + i * ldq, oh + i * ldq, dh)
                            var j = 0
                            while j + 8 <= valid {
                                store8(load8(prow + j) * (load8(drow + j) - delta), drow + j)
                                j += 8
                            }
                            while j < valid {
                                drow[j] = prow[j] * (drow[j] - delta)
                                j += 1
                            }
                            (drow + valid).update(repeating: 0, count: nk - valid)
                        }
                        // dv[0..<nk] += pᵀ·dout[i0..<i0+nb]
                        BLAS.sgemm(
                            transA: true, transB: false, m: nk, n: dh, k: nb, alpha: 1, a: p, lda: nk, b: doh + i0 * ldq,
                            ldb: ldq, beta: 1, c: dvg, ldc: ldk)
                        // dq[i0..<i0+nb] = scale · ds·k[0..<nk]
                        BLAS.sgemm(
                            transA: false, transB: false, m: nb, n: dh, k: nk, alpha: scale, a: ds, lda: nk, b: kg, ldb: ldk,
                            beta: 0, c: dqh + i0 * ldq, ldc: ldq)
                        // dk[0..<nk] += scale · dsᵀ·q[i0..<i0+nb]
                        BLAS.sgemm(
                            transA: true, transB: false, m: nk, n: dh, k: nb, alpha: scale, a: ds, lda: nk, b: qh + i0 * ldq,
                            ldb: ldq, beta: 1, c: dkg, ldc: ldk)
                        i0 += nb
                    }
                }
            }
        }
    }

    // MARK: - Decode

    /// Floats of scratch `decode` needs for a cache of `length` positions.
    public static func decodeScratchFloats(length: Int, heads: Int) -> Int { heads * length }

    /// One new token (already appended to the cache at position length−1) attends to cache rows 0..<length.
    public static func decode(
        out: UnsafeMutablePointer<Float>,  // (H·Dh)
        q: UnsafePointer<Float>,  // (H·Dh)
        kCache: UnsafePointer<Float>,  // (≥L, Hk·Dh)
        vCache: UnsafePointer<Float>,  // (≥L, Hk·Dh)
        length l: Int, heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutablePointer<Float>  // (H, L)
    ) {
        precondition(l >= 1 && heads % kvHeads == 0)
        let dh = headDim, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = Float(1 / Double(dh).squareRoot())
        let threads = l * heads * dh >= 32_768 ? Parallel.threads : 1
        Parallel.forEach(count: heads, threads: threads) { h, _ in
            let g = h / group
            let s = scratch + h * l
            let qh = q + h * dh
            for j in 0..<l { s[j] = scale * dot(qh, kCache + j * ldk + g * dh, dh) }
            let mx = maximum(s, l)
            let inv = 1 / expShiftSum(s, l, shift: mx)
            let oh = out + h * dh
            oh.update(repeating: 0, count: dh)
            for j in 0..<l { axpy(oh, s[j] * inv, vCache + j * ldk + g * dh, dh) }
        }
    }
}
