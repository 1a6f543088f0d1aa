// Causal grouped-query attention over a packed token stream. The stream is cut into spans: a span's
// queries attend causally to the span's own earlier tokens and, before those, to every key of an optional
// prefix range elsewhere in the stream (a prompt shared by two completions). Forward saves each
// (token, head)'s logsumexp; backward recomputes the probabilities from it (FlashAttention-style). Work is
// split into tasks of one query block (B rows) of one head, each a few sgemms against the keys that block
// can see (prefix keys, then own keys); workers take tasks largest first. Also the one-token decode step
// against a KV cache, for generation. The score scale defaults to 1/√Dh (Gemma's query_pre_attn_scalar
// sets another); an optional soft cap turns scores s into cap·tanh(s/cap) before the mask (Gemma 2).
// T tokens, H query heads, Hk kv heads, Dh head dim, P prefix length, L longest P + span length,
// B query block rows, W workers.

import Foundation

public enum Attention {
    /// Query rows per block (B).
    public static let blockRows = 64

    /// A run of query rows `rows` that attends causally to itself and, before itself, to all of `prefix`
    /// (empty for an independent sequence). The prefix must end at or before `rows` starts. Query row
    /// rows.lowerBound + i sees keys prefix ++ rows.lowerBound...rows.lowerBound + i.
    public struct Span: Sendable, Equatable {
        public var rows: Range<Int>
        public var prefix: Range<Int>
        public init(_ rows: Range<Int>, prefix: Range<Int> = 0..<0) {
            self.rows = rows
            self.prefix = prefix.isEmpty ? 0..<0 : prefix
        }
        /// Keys the span's last query sees (P + its own length).
        public var keys: Int { prefix.count + rows.count }
    }

    // MARK: - Scratch

    /// Floats of scratch `forward` and `backward` need: per worker a (B, L) score block and a (B, L)
    /// gradient block, and for every worker but the first private dk/dv sums, (T, Hk·Dh) each.
    /// `tokens` is the length of the packed buffers (at least the end of the last span);
    /// `maxSegmentLength` the largest `Span.keys` (a span's prefix plus its own length). With less scratch
    /// than `threads` workers need, the kernels use fewer workers.
    public static func scratchFloats(
        tokens: Int, maxSegmentLength: Int, kvHeads: Int, headDim: Int, threads: Int = Parallel.threads
    ) -> Int {
        let w = max(1, threads)
        return w * blockScratch(maxSegmentLength) + (w - 1) * 2 * tokens * kvHeads * headDim
    }

    static func blockScratch(_ l: Int) -> Int { 2 * min(blockRows, l) * l }

    struct Plan {
        let longest: Int  // L
        let covered: Int  // end of the last span
        let tasks: Int  // query blocks × H
        let workers: Int
        /// Rows written by the backward's dk/dv (every span's rows and prefix), sorted and merged.
        let keyRows: [Range<Int>]
    }

    static func plan(
        _ spans: [Span], _ heads: Int, _ kvHeads: Int, _ headDim: Int, _ scratch: UnsafeMutableBufferPointer<Float>,
        backward: Bool
    ) -> Plan {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && headDim > 0)
        var longest = 0, covered = 0, blocks = 0
        var ranges: [Range<Int>] = []
        for s in spans {
            precondition(s.rows.lowerBound >= 0, "span \(s.rows) starts before token 0")
            precondition(
                s.prefix.isEmpty || (s.prefix.lowerBound >= 0 && s.prefix.upperBound <= s.rows.lowerBound),
                "span \(s.rows): prefix \(s.prefix) must end before the span starts")
            longest = max(longest, s.keys)
            covered = max(covered, s.rows.upperBound)
            blocks += (s.rows.count + blockRows - 1) / blockRows
            if backward {
                if !s.rows.isEmpty { ranges.append(s.rows) }
                if !s.prefix.isEmpty { ranges.append(s.prefix) }
            }
        }
        var keyRows: [Range<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = keyRows.last, r.lowerBound <= last.upperBound {
                keyRows[keyRows.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                keyRows.append(r)
            }
        }
        let tasks = blocks * heads
        func needed(_ w: Int) -> Int {
            w * blockScratch(longest) + (backward ? (w - 1) * 2 * covered * kvHeads * headDim : 0)
        }
        // As many workers as Parallel.threads allows and the scratch holds (one at least).
        var workers = max(1, min(Parallel.threads, tasks))
        while workers > 1 && needed(workers) > scratch.count { workers -= 1 }
        precondition(scratch.count >= needed(workers), "attention scratch holds \(scratch.count) floats, needs \(needed(workers))")
        return Plan(longest: longest, covered: covered, tasks: tasks, workers: workers, keyRows: keyRows)
    }

    /// Task → (span, first query row of the block within the span, head). Heads vary fastest (a kv head's
    /// K/V block stays in cache across its query heads); within a span the last, largest blocks come first.
    @inline(__always)
    static func task(_ index: Int, _ spans: [Span], _ heads: Int) -> (span: Span, i0: Int, h: Int) {
        var j = index / heads
        for s in spans {
            let n = (s.rows.count + blockRows - 1) / blockRows
            if j < n { return (s, (n - 1 - j) * blockRows, index % heads) }
            j -= n
        }
        preconditionFailure("attention task \(index) out of range")
    }

    // MARK: - Forward

    /// Causal attention inside each segment (no prefixes).
    public static func forward(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, segments: [Range<Int>], heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutableBufferPointer<Float>, scale: Float? = nil, softcap: Float? = nil
    ) {
        forward(
            out: out, lse: lse, q: q, k: k, v: v, spans: segments.map { Span($0) }, heads: heads, kvHeads: kvHeads,
            headDim: headDim, scratch: scratch, scale: scale, softcap: softcap)
    }

    /// out = softmax(cap(scale·q·kᵀ) + mask)·v per span and head (scale 1/√Dh unless given; cap the
    /// identity unless `softcap`), the mask letting a query see the span's prefix and its own causal past;
    /// lse = log Σ exp of each (capped) score row. Tokens outside every span are left untouched.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (T, H·Dh)
        lse: UnsafeMutablePointer<Float>,  // (T, H)
        q: UnsafePointer<Float>,  // (T, H·Dh)
        k: UnsafePointer<Float>,  // (T, Hk·Dh)
        v: UnsafePointer<Float>,  // (T, Hk·Dh)
        spans: [Span],
        heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutableBufferPointer<Float>,  // (scratchFloats)
        scale: Float? = nil, softcap: Float? = nil
    ) {
        let plan = plan(spans, heads, kvHeads, headDim, scratch, backward: false)
        let stride = blockScratch(plan.longest)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = scale ?? Float(1 / Double(dh).squareRoot())
        BLAS.withThreads(plan.workers > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: plan.tasks, threads: plan.workers) { index, worker in
                let (span, i0, h) = task(index, spans, heads)
                let g = h / group, t0 = span.rows.lowerBound, np = span.prefix.count, p0 = span.prefix.lowerBound
                let nb = min(blockRows, span.rows.count - i0), nk = i0 + nb, ld = np + nk
                let s = scratch.baseAddress! + worker * stride  // (B, P + nk) scores, then probabilities
                let qb = q + (t0 + i0) * ldq + h * dh
                let kg = k + t0 * ldk + g * dh, vg = v + t0 * ldk + g * dh
                let kp = k + p0 * ldk + g * dh, vp = v + p0 * ldk + g * dh
                // s = scale · q[i0..<i0+nb]·[k[prefix]; k[0..<nk]]ᵀ
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: np, k: dh, alpha: scale, a: qb, lda: ldq, b: kp, ldb: ldk, beta: 0,
                    c: s, ldc: ld)
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: nk, k: dh, alpha: scale, a: qb, lda: ldq, b: kg, ldb: ldk, beta: 0,
                    c: s + np, ldc: ld)
                for r in 0..<nb {
                    let row = s + r * ld, valid = np + i0 + r + 1
                    if let softcap { capScores(row, valid, softcap) }
                    let mx = maximum(row, valid)
                    let sum = expShiftSum(row, valid, shift: mx)
                    let inv = 1 / sum
                    for j in 0..<valid { row[j] *= inv }
                    (row + valid).update(repeating: 0, count: ld - valid)
                    lse[(t0 + i0 + r) * heads + h] = mx + Foundation.log(sum)
                }
                // out[i0..<i0+nb] = p·[v[prefix]; v[0..<nk]]
                let o = out + (t0 + i0) * ldq + h * dh
                if np > 0 {
                    BLAS.sgemm(
                        transA: false, transB: false, m: nb, n: dh, k: np, alpha: 1, a: s, lda: ld, b: vp, ldb: ldk, beta: 0,
                        c: o, ldc: ldq)
                }
                BLAS.sgemm(
                    transA: false, transB: false, m: nb, n: dh, k: nk, alpha: 1, a: s + np, lda: ld, b: vg, ldb: ldk,
                    beta: np > 0 ? 1 : 0, c: o, ldc: ldq)
            }
        }
    }

    // MARK: - Backward

    /// Backward of causal attention inside each segment (no prefixes).
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>, segments: [Range<Int>], heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutableBufferPointer<Float>, scale: Float? = nil, softcap: Float? = nil
    ) {
        backward(
            dq: dq, dk: dk, dv: dv, dout: dout, q: q, k: k, v: v, out: out, lse: lse, spans: segments.map { Span($0) },
            heads: heads, kvHeads: kvHeads, headDim: headDim, scratch: scratch, scale: scale, softcap: softcap)
    }

    /// dq (overwritten on the spans' rows), dk, dv (overwritten on the spans' rows and prefixes; a prefix
    /// row sums the gradients of every span that sees it). Differentiates, per span and head,
    /// `s = scale·q·kᵀ; p = softmax(s) (masked); out = p·v` with k, v = [prefix keys; own keys]:
    /// dv += pᵀ·dout; dp = dout·vᵀ; ds = p ⊙ (dp − rowsum(dout ⊙ out)); dq = scale·ds·k; dk += scale·dsᵀ·q.
    /// With a soft cap c = cap·tanh(s/cap) before the softmax, ds is further multiplied by 1 − tanh².
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
        spans: [Span],
        heads: Int, kvHeads: Int, headDim: Int,
        scratch: UnsafeMutableBufferPointer<Float>,  // (scratchFloats)
        scale: Float? = nil, softcap: Float? = nil
    ) {
        let plan = plan(spans, heads, kvHeads, headDim, scratch, backward: true)
        let stride = blockScratch(plan.longest), bMax = min(blockRows, plan.longest)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = scale ?? Float(1 / Double(dh).squareRoot())
        let sums = scratch.baseAddress! + plan.workers * stride  // (W−1) × [(T, Hk·Dh) dk, (T, Hk·Dh) dv]
        let sumStride = 2 * plan.covered * ldk
        for r in plan.keyRows {
            (dk + r.lowerBound * ldk).update(repeating: 0, count: r.count * ldk)
            (dv + r.lowerBound * ldk).update(repeating: 0, count: r.count * ldk)
        }
        sums.update(repeating: 0, count: (plan.workers - 1) * sumStride)
        BLAS.withThreads(plan.workers > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: plan.tasks, threads: plan.workers) { index, worker in
                let (span, i0, h) = task(index, spans, heads)
                let g = h / group, t0 = span.rows.lowerBound, np = span.prefix.count, p0 = span.prefix.lowerBound
                let nb = min(blockRows, span.rows.count - i0), nk = i0 + nb, ld = np + nk
                let p = scratch.baseAddress! + worker * stride  // (B, P + nk)
                let ds = p + bMax * plan.longest  // (B, P + nk)
                let dkAll = worker == 0 ? dk : sums + (worker - 1) * sumStride
                let dvAll = worker == 0 ? dv : dkAll + plan.covered * ldk
                let kg = k + t0 * ldk + g * dh, vg = v + t0 * ldk + g * dh
                let kp = k + p0 * ldk + g * dh, vp = v + p0 * ldk + g * dh
                let dkg = dkAll + t0 * ldk + g * dh, dvg = dvAll + t0 * ldk + g * dh
                let dkp = dkAll + p0 * ldk + g * dh, dvp = dvAll + p0 * ldk + g * dh
                let qb = q + (t0 + i0) * ldq + h * dh, ob = out + (t0 + i0) * ldq + h * dh
                let dob = dout + (t0 + i0) * ldq + h * dh
                // p = exp(scale · q·kᵀ − lse), recomputed
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: np, k: dh, alpha: scale, a: qb, lda: ldq, b: kp, ldb: ldk,
                    beta: 0, c: p, ldc: ld)
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: nk, k: dh, alpha: scale, a: qb, lda: ldq, b: kg, ldb: ldk,
                    beta: 0, c: p + np, ldc: ld)
                // dp = dout·vᵀ
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: np, k: dh, alpha: 1, a: dob, lda: ldq, b: vp, ldb: ldk,
                    beta: 0, c: ds, ldc: ld)
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: nk, k: dh, alpha: 1, a: dob, lda: ldq, b: vg, ldb: ldk,
                    beta: 0, c: ds + np, ldc: ld)
                for r in 0..<nb {
                    let valid = np + i0 + r + 1
                    let prow = p + r * ld, drow = ds + r * ld
                    let delta = dot(dob + r * ldq, ob + r * ldq, dh)
                    if let softcap {
                        // c = cap·tanh(s/cap); p = exp(c − lse); ds = p ⊙ (dp − Σ_d dout·out) ⊙ (1 − tanh²)
                        let m = lse[(t0 + i0 + r) * heads + h]
                        for j in 0..<valid {
                            let th = Foundation.tanh(prow[j] / softcap)
                            let pj = fastExp(softcap * th - m)
                            prow[j] = pj
                            drow[j] = pj * (drow[j] - delta) * (1 - th * th)
                        }
                        (prow + valid).update(repeating: 0, count: ld - valid)
                        (drow + valid).update(repeating: 0, count: ld - valid)
                        continue
                    }
                    _ = expShiftSum(prow, valid, shift: lse[(t0 + i0 + r) * heads + h])
                    (prow + valid).update(repeating: 0, count: ld - valid)
                    // ds = p ⊙ (dp − Σ_d dout·out)
                    var j = 0
                    while j + 8 <= valid {
                        store8(load8(prow + j) * (load8(drow + j) - delta), drow + j)
                        j += 8
                    }
                    while j < valid {
                        drow[j] = prow[j] * (drow[j] - delta)
                        j += 1
                    }
                    (drow + valid).update(repeating: 0, count: ld - valid)
                }
                // dv[prefix] += p[:, prefix]ᵀ·dout; dv[0..<nk] += p[:, own]ᵀ·dout[i0..<i0+nb]
                BLAS.sgemm(
                    transA: true, transB: false, m: np, n: dh, k: nb, alpha: 1, a: p, lda: ld, b: dob, ldb: ldq,
                    beta: 1, c: dvp, ldc: ldk)
                BLAS.sgemm(
                    transA: true, transB: false, m: nk, n: dh, k: nb, alpha: 1, a: p + np, lda: ld, b: dob, ldb: ldq,
                    beta: 1, c: dvg, ldc: ldk)
                // dq[i0..<i0+nb] = scale · ds·[k[prefix]; k[0..<nk]]
                let dqb = dq + (t0 + i0) * ldq + h * dh
                if np > 0 {
                    BLAS.sgemm(
                        transA: false, transB: false, m: nb, n: dh, k: np, alpha: scale, a: ds, lda: ld, b: kp, ldb: ldk,
                        beta: 0, c: dqb, ldc: ldq)
                }
                BLAS.sgemm(
                    transA: false, transB: false, m: nb, n: dh, k: nk, alpha: scale, a: ds + np, lda: ld, b: kg, ldb: ldk,
                    beta: np > 0 ? 1 : 0, c: dqb, ldc: ldq)
                // dk[prefix] += scale · ds[:, prefix]ᵀ·q; dk[0..<nk] += scale · ds[:, own]ᵀ·q[i0..<i0+nb]
                BLAS.sgemm(
                    transA: true, transB: false, m: np, n: dh, k: nb, alpha: scale, a: ds, lda: ld, b: qb, ldb: ldq,
                    beta: 1, c: dkp, ldc: ldk)
                BLAS.sgemm(
                    transA: true, transB: false, m: nk, n: dh, k: nb, alpha: scale, a: ds + np, lda: ld, b: qb, ldb: ldq,
                    beta: 1, c: dkg, ldc: ldk)
            }
        }
        // dk += Σ_workers partial dk (and dv), over the rows written
        if plan.workers > 1 {
            for rows in plan.keyRows {
                Parallel.forChunks(count: rows.count, minChunk: max(1, 8192 / ldk)) { range, _ in
                    for w in 1..<plan.workers {
                        let base = sums + (w - 1) * sumStride
                        let off = (rows.lowerBound + range.lowerBound) * ldk, n = range.count * ldk
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
        scratch: UnsafeMutablePointer<Float>,  // (H, L)
        scale: Float? = nil, softcap: Float? = nil
    ) {
        precondition(l >= 1 && heads % kvHeads == 0)
        let dh = headDim, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = scale ?? Float(1 / Double(dh).squareRoot())
        let threads = l * heads * dh >= 32_768 ? Parallel.threads : 1
        Parallel.forEach(count: heads, threads: threads) { h, _ in
            let g = h / group
            let s = scratch + h * l
            let qh = q + h * dh
            for j in 0..<l { s[j] = scale * dot(qh, kCache + j * ldk + g * dh, dh) }
            if let softcap { capScores(s, l, softcap) }
            let mx = maximum(s, l)
            let inv = 1 / expShiftSum(s, l, shift: mx)
            let oh = out + h * dh
            oh.update(repeating: 0, count: dh)
            for j in 0..<l { axpy(oh, s[j] * inv, vCache + j * ldk + g * dh, dh) }
        }
    }

    /// a[i] = cap·tanh(a[i]/cap) for i < n (transformers' eager order: divide, tanh, multiply).
    @inline(__always) static func capScores(_ a: UnsafeMutablePointer<Float>, _ n: Int, _ cap: Float) {
        for j in 0..<n { a[j] = cap * Foundation.tanh(a[j] / cap) }
    }
}
