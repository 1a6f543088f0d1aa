// Causal grouped-query attention over a packed token stream holding several sequences: a token attends
// only to itself and earlier tokens of its own segment. Forward saves each (token, head)'s logsumexp;
// backward recomputes the probabilities from it (FlashAttention-style). Work is split into tasks of one
// query block (B rows) of one head, each a few sgemms against the keys that block can see; workers
// take tasks largest first. Also the one-token decode step against a KV cache, for generation.
// T tokens, H query heads, Hk kv heads, Dh head dim, L segment length, B query block rows, W workers.

import Foundation

public enum Attention {
    /// Query rows per block (B).
    public static let blockRows = 64

    // MARK: - Scratch

    /// Floats of scratch `forward` and `backward` need: per worker a (B, L) score block and a (B, L)
    /// gradient block, and for every worker but the first private dk/dv sums, (T, Hk·Dh) each.
    /// `tokens` is the length of the packed buffers (at least the end of the last segment). With less
    /// scratch than `threads` workers need, the kernels use fewer workers.
    public static func scratchFloats(
        tokens: Int, maxSegmentLength: Int, kvHeads: Int, headDim: Int, threads: Int = Parallel.threads
    ) -> Int {
        let w = max(1, threads)
        return w * blockScratch(maxSegmentLength) + (w - 1) * 2 * tokens * kvHeads * headDim
    }

    static func blockScratch(_ l: Int) -> Int { 2 * min(blockRows, l) * l }

    struct Plan {
        let longest: Int  // L
        let covered: Int  // end of the last segment
        let tasks: Int  // query blocks × H
        let workers: Int
    }

    static func plan(
        _ segments: [Range<Int>], _ heads: Int, _ kvHeads: Int, _ headDim: Int, _ scratch: UnsafeMutableBufferPointer<Float>,
        backward: Bool
    ) -> Plan {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && headDim > 0)
        var longest = 0, covered = 0, blocks = 0
        for s in segments {
            precondition(s.lowerBound >= 0, "segment \(s) starts before token 0")
            longest = max(longest, s.count)
            covered = max(covered, s.upperBound)
            blocks += (s.count + blockRows - 1) / blockRows
        }
        let tasks = blocks * heads
        func needed(_ w: Int) -> Int {
            w * blockScratch(longest) + (backward ? (w - 1) * 2 * covered * kvHeads * headDim : 0)
        }
        // As many workers as Parallel.threads allows and the scratch holds (one at least).
        var workers = max(1, min(Parallel.threads, tasks))
        while workers > 1 && needed(workers) > scratch.count { workers -= 1 }
        precondition(scratch.count >= needed(workers), "attention scratch holds \(scratch.count) floats, needs \(needed(workers))")
        return Plan(longest: longest, covered: covered, tasks: tasks, workers: workers)
    }

    /// Task → (segment, first query row of the block, head). Heads vary fastest (a kv head's K/V block
    /// stays in cache across its query heads); within a segment the last, largest blocks come first.
    @inline(__always)
    static func task(_ index: Int, _ segments: [Range<Int>], _ heads: Int) -> (seg: Range<Int>, i0: Int, h: Int) {
        var j = index / heads
        for s in segments {
            let n = (s.count + blockRows - 1) / blockRows
            if j < n { return (s, (n - 1 - j) * blockRows, index % heads) }
            j -= n
        }
        preconditionFailure("attention task \(index) out of range")
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
        let plan = plan(segments, heads, kvHeads, headDim, scratch, backward: false)
        let stride = blockScratch(plan.longest)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = Float(1 / Double(dh).squareRoot())
        BLAS.withThreads(plan.workers > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: plan.tasks, threads: plan.workers) { index, worker in
                let (seg, i0, h) = task(index, segments, heads)
                let g = h / group, t0 = seg.lowerBound
                let nb = min(blockRows, seg.count - i0), nk = i0 + nb
                let s = scratch.baseAddress! + worker * stride  // (B, nk) scores, then probabilities
                let qh = q + t0 * ldq + h * dh, kg = k + t0 * ldk + g * dh, vg = v + t0 * ldk + g * dh
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
                    beta: 0, c: out + (t0 + i0) * ldq + h * dh, ldc: ldq)
            }
        }
    }

    // MARK: - Backward

    /// dq, dk, dv (overwritten on the segments' tokens). Differentiates, per segment and head,
    /// `s = scale·q·kᵀ; p = softmax(s) (causal); out = p·v`:
    /// dv += pᵀ·dout; dp = dout·vᵀ; ds = p ⊙ (dp − rowsum(dout ⊙ out)); dq = scale·ds·k; dk += scale·dsᵀ·q.
    /// Each worker sums dk and dv in its own buffer (the first worker in dk/dv itself); they are added
    /// at the end, so tasks never share a write.
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
        let plan = plan(segments, heads, kvHeads, headDim, scratch, backward: true)
        let stride = blockScratch(plan.longest), bMax = min(blockRows, plan.longest)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = Float(1 / Double(dh).squareRoot())
        let sums = scratch.baseAddress! + plan.workers * stride  // (W−1) × [(T, Hk·Dh) dk, (T, Hk·Dh) dv]
        let sumStride = 2 * plan.covered * ldk
        for seg in segments {
            (dk + seg.lowerBound * ldk).update(repeating: 0, count: seg.count * ldk)
            (dv + seg.lowerBound * ldk).update(repeating: 0, count: seg.count * ldk)
        }
        sums.update(repeating: 0, count: (plan.workers - 1) * sumStride)
        BLAS.withThreads(plan.workers > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: plan.tasks, threads: plan.workers) { index, worker in
                let (seg, i0, h) = task(index, segments, heads)
                let g = h / group, t0 = seg.lowerBound
                let nb = min(blockRows, seg.count - i0), nk = i0 + nb
                let p = scratch.baseAddress! + worker * stride  // (B, nk)
                let ds = p + bMax * plan.longest  // (B, nk)
                let dkAll = worker == 0 ? dk : sums + (worker - 1) * sumStride
                let dvAll = worker == 0 ? dv : dkAll + plan.covered * ldk
                let kg = k + t0 * ldk + g * dh, vg = v + t0 * ldk + g * dh
                let dkg = dkAll + t0 * ldk + g * dh, dvg = dvAll + t0 * ldk + g * dh
                let qb = q + (t0 + i0) * ldq + h * dh, ob = out + (t0 + i0) * ldq + h * dh
                let dob = dout + (t0 + i0) * ldq + h * dh
                // p = exp(scale · q·kᵀ − lse), recomputed
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: nk, k: dh, alpha: scale, a: qb, lda: ldq, b: kg, ldb: ldk,
                    beta: 0, c: p, ldc: nk)
                // dp = dout·vᵀ
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: nk, k: dh, alpha: 1, a: dob, lda: ldq, b: vg, ldb: ldk,
                    beta: 0, c: ds, ldc: nk)
                for r in 0..<nb {
                    let valid = i0 + r + 1
                    let prow = p + r * nk, drow = ds + r * nk
                    _ = expShiftSum(prow, valid, shift: lse[(t0 + i0 + r) * heads + h])
                    (prow + valid).update(repeating: 0, count: nk - valid)
                    // ds = p ⊙ (dp − Σ_d dout·out)
                    let delta = dot(dob + r * ldq, ob + r * ldq, dh)
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
                    transA: true, transB: false, m: nk, n: dh, k: nb, alpha: 1, a: p, lda: nk, b: dob, ldb: ldq,
                    beta: 1, c: dvg, ldc: ldk)
                // dq[i0..<i0+nb] = scale · ds·k[0..<nk]
                BLAS.sgemm(
                    transA: false, transB: false, m: nb, n: dh, k: nk, alpha: scale, a: ds, lda: nk, b: kg, ldb: ldk,
                    beta: 0, c: dq + (t0 + i0) * ldq + h * dh, ldc: ldq)
                // dk[0..<nk] += scale · dsᵀ·q[i0..<i0+nb]
                BLAS.sgemm(
                    transA: true, transB: false, m: nk, n: dh, k: nb, alpha: scale, a: ds, lda: nk, b: qb, ldb: ldq,
                    beta: 1, c: dkg, ldc: ldk)
            }
        }
        // dk += Σ_workers partial dk (and dv), over the segments' rows
        if plan.workers > 1 {
            for seg in segments {
                Parallel.forChunks(count: seg.count, minChunk: max(1, 8192 / ldk)) { range, _ in
                    for w in 1..<plan.workers {
                        let base = sums + (w - 1) * sumStride
                        let off = (seg.lowerBound + range.lowerBound) * ldk, n = range.count * ldk
                        axpy(dk + off, 1, base + off, n)
                        axpy(dv + off, 1, base + plan.covered * ldk + off, n)
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
