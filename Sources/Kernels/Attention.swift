// Causal grouped-query attention over a packed token stream. The stream is cut into spans: a span's
// queries attend causally to the span's own earlier tokens and, before those, to every key of an optional
// prefix range elsewhere in the stream (a prompt shared by two completions). Forward saves each
// (token, head)'s logsumexp; backward recomputes the probabilities from it (FlashAttention-style). Work is
// split into tasks of one query block (B rows) of one head, each a few sgemms against the keys that block
// can see (prefix keys, then own keys); workers take tasks largest first. The backward's tasks own their
// keys instead: spans that share keys (a prompt and the completions that see it) form a group, and a task
// is one group's blocks for one kv head, so every dk/dv row is written by one task in a fixed order — no
// per-worker sums to add, and the same bits for any thread count. An optional sliding window
// (Mistral, Gemma's local layers) limits each query to the `window` latest keys: in a span's key order
// (prefix ++ own rows) query position i sees keys j with i − window < j ≤ i, as transformers' sliding-window
// mask; a block only multiplies against the keys some row of it can see, so the cost falls with the window.
// Also the one-token decode step against a KV cache, for generation. The score scale defaults to 1/√Dh
// (Gemma's query_pre_attn_scalar sets another); an optional soft cap turns scores s into cap·tanh(s/cap)
// before the softmax (Gemma 2).
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
    /// gradient block. `maxSegmentLength` is the largest `Span.keys` (a span's prefix plus its own length).
    /// With less scratch than `threads` workers need, the kernels use fewer workers.
    public static func scratchFloats(maxSegmentLength: Int, threads: Int = Parallel.threads) -> Int {
        max(1, threads) * blockScratch(maxSegmentLength)
    }

    static func blockScratch(_ l: Int) -> Int { 2 * min(blockRows, l) * l }

    struct Plan {
        let longest: Int  // L
        let tasks: Int
        let workers: Int
    }

    static func plan(
        _ spans: [Span], _ heads: Int, _ kvHeads: Int, _ headDim: Int, _ scratch: UnsafeMutableBufferPointer<Float>,
        tasks: Int, threads: Int
    ) -> Plan {
        precondition(heads > 0 && kvHeads > 0 && heads % kvHeads == 0 && headDim > 0)
        var longest = 0
        for s in spans {
            precondition(s.rows.lowerBound >= 0, "span \(s.rows) starts before token 0")
            precondition(
                s.prefix.isEmpty || (s.prefix.lowerBound >= 0 && s.prefix.upperBound <= s.rows.lowerBound),
                "span \(s.rows): prefix \(s.prefix) must end before the span starts")
            longest = max(longest, s.keys)
        }
        // As many workers as `threads` allows and the scratch holds (one at least).
        var workers = max(1, min(threads, tasks))
        while workers > 1 && workers * blockScratch(longest) > scratch.count { workers -= 1 }
        precondition(
            scratch.count >= workers * blockScratch(longest),
            "attention scratch holds \(scratch.count) floats, needs \(workers * blockScratch(longest))")
        return Plan(longest: longest, tasks: tasks, workers: workers)
    }

    /// Query blocks of a span: ⌈rows / B⌉.
    static func blocks(_ s: Span) -> Int { (s.rows.count + blockRows - 1) / blockRows }

    /// Query blocks over all spans.
    static func blockCount(_ spans: [Span]) -> Int { spans.reduce(0) { $0 + blocks($1) } }

    /// Spans that share key rows, directly or through others (a prompt, the completions that see it as
    /// their prefix), grouped: indices ascending within a group, groups by their first span, and
    /// the groups' key rows disjoint. Each group's cost estimate (Σ rows × keys) orders the tasks.
    static func keyGroups(_ spans: [Span]) -> [(spans: [Int], cost: Int)] {
        // Sweep the spans' key ranges (prefix and own rows) by start; overlapping ranges join one group.
        var ranges: [(range: Range<Int>, span: Int)] = []
        for (i, s) in spans.enumerated() {
            if !s.rows.isEmpty { ranges.append((s.rows, i)) }
            if !s.prefix.isEmpty { ranges.append((s.prefix, i)) }
        }
        ranges.sort { ($0.range.lowerBound, $0.span) < ($1.range.lowerBound, $1.span) }
        var root = Array(spans.indices)
        func find(_ i: Int) -> Int {
            var i = i
            while root[i] != i {
                root[i] = root[root[i]]
                i = root[i]
            }
            return i
        }
        var end = Int.min, last = -1
        for (range, span) in ranges {
            if range.lowerBound < end {
                let a = find(span), b = find(last)
                root[max(a, b)] = min(a, b)
            }
            if range.upperBound > end { end = range.upperBound }
            last = span
        }
        var members: [Int: [Int]] = [:]
        for i in spans.indices { members[find(i), default: []].append(i) }
        return members.keys.sorted().map { r in
            (members[r]!, members[r]!.reduce(0) { $0 + spans[$1].rows.count * spans[$1].keys })
        }
    }

    /// Task → (span, first query row of the block within the span, head). Heads vary fastest (a kv head's
    /// K/V block stays in cache across its query heads); within a span the last, largest blocks come first.
    @inline(__always)
    static func task(_ index: Int, _ spans: [Span], _ heads: Int) -> (span: Span, i0: Int, h: Int) {
        var j = index / heads
        for s in spans {
            let n = blocks(s)
            if j < n { return (s, (n - 1 - j) * blockRows, index % heads) }
            j -= n
        }
        preconditionFailure("attention task \(index) out of range")
    }

    /// The keys a query block sees, in its span's key order (prefix ++ own rows): `lo..<hi` with
    /// hi = P + i0 + nb; of them `prefixKeys` come from the prefix (its last ones) and `ownStart` is the first
    /// own row seen. Row r of the block sees columns first(r)..<last(r) of the block's (nb, hi − lo) scores.
    struct BlockKeys {
        let lo: Int, hi: Int
        let window: Int?
        var count: Int { hi - lo }
        /// Prefix keys in view (the prefix's last ones).
        let prefixKeys: Int
        /// First own row (within the span) in view.
        let ownStart: Int
        /// The query position (in key order) of the block's first row.
        let pos0: Int

        init(prefix np: Int, i0: Int, rows nb: Int, window: Int?) {
            pos0 = np + i0
            hi = pos0 + nb
            let p0 = pos0
            lo = window.map { max(0, p0 - $0 + 1) } ?? 0
            self.window = window
            prefixKeys = max(0, np - lo)
            ownStart = max(0, lo - np)
        }

        /// Columns row r sees: from its window's start to its own position, inclusive.
        @inline(__always) func columns(_ r: Int) -> Range<Int> {
            let pos = pos0 + r
            let first = window.map { max(lo, pos - $0 + 1) } ?? lo
            return (first - lo)..<(pos - lo + 1)
        }
    }

    static func checkWindow(_ window: Int?) {
        if let window { precondition(window > 0, "attention window must be ≥ 1, got \(window)") }
    }

    // MARK: - Forward

    /// Causal attention inside each segment (no prefixes).
    public static func forward(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, segments: [Range<Int>], heads: Int, kvHeads: Int, headDim: Int,
        window: Int? = nil, scratch: UnsafeMutableBufferPointer<Float>, scale: Float? = nil, softcap: Float? = nil,
        threads: Int = Parallel.threads
    ) {
        forward(
            out: out, lse: lse, q: q, k: k, v: v, spans: segments.map { Span($0) }, heads: heads, kvHeads: kvHeads,
            headDim: headDim, window: window, scratch: scratch, scale: scale, softcap: softcap, threads: threads)
    }

    /// out = softmax(q·kᵀ/√Dh + mask)·v per span and head, the mask letting a query see the span's prefix
    /// and its own causal past (the last `window` keys of them, when a window is given); lse = log Σ exp of
    /// each score row. Tokens outside every span are left untouched.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (T, H·Dh)
        lse: UnsafeMutablePointer<Float>,  // (T, H)
        q: UnsafePointer<Float>,  // (T, H·Dh)
        k: UnsafePointer<Float>,  // (T, Hk·Dh)
        v: UnsafePointer<Float>,  // (T, Hk·Dh)
        spans: [Span],
        heads: Int, kvHeads: Int, headDim: Int,
        window: Int? = nil,
        scratch: UnsafeMutableBufferPointer<Float>,  // (scratchFloats)
        scale: Float? = nil, softcap: Float? = nil,
        threads: Int = Parallel.threads
    ) {
        checkWindow(window)
        let plan = plan(spans, heads, kvHeads, headDim, scratch, tasks: blockCount(spans) * heads, threads: threads)
        let perWorker = blockScratch(plan.longest)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = scale ?? Float(1 / Double(dh).squareRoot())
        BLAS.withThreads(plan.workers > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: plan.tasks, threads: plan.workers) { index, worker in
                let (span, i0, h) = task(index, spans, heads)
                let g = h / group, t0 = span.rows.lowerBound, np = span.prefix.count, p0 = span.prefix.lowerBound
                let nb = min(blockRows, span.rows.count - i0)
                // The keys in view: the prefix's last npv, then own rows o0..<o0+no.
                let keys = BlockKeys(prefix: np, i0: i0, rows: nb, window: window)
                let ld = keys.count, npv = keys.prefixKeys, o0 = keys.ownStart, no = i0 + nb - o0
                let s = scratch.baseAddress! + worker * perWorker  // (B, npv + no) scores, then probabilities
                let qb = q + (t0 + i0) * ldq + h * dh
                let kg = k + (t0 + o0) * ldk + g * dh, vg = v + (t0 + o0) * ldk + g * dh
                let kp = k + (p0 + np - npv) * ldk + g * dh, vp = v + (p0 + np - npv) * ldk + g * dh
                // s = scale · q[i0..<i0+nb]·[k[prefix in view]; k[o0..<i0+nb]]ᵀ
                if npv > 0 {
                    BLAS.sgemm(
                        transA: false, transB: true, m: nb, n: npv, k: dh, alpha: scale, a: qb, lda: ldq, b: kp, ldb: ldk,
                        beta: 0, c: s, ldc: ld)
                }
                BLAS.sgemm(
                    transA: false, transB: true, m: nb, n: no, k: dh, alpha: scale, a: qb, lda: ldq, b: kg, ldb: ldk, beta: 0,
                    c: s + npv, ldc: ld)
                for r in 0..<nb {
                    let row = s + r * ld, cols = keys.columns(r)
                    let seen = row + cols.lowerBound, n = cols.count
                    if let softcap { capScores(seen, n, softcap) }
                    let mx = maximum(seen, n)
                    let sum = expShiftSum(seen, n, shift: mx)
                    let inv = 1 / sum
                    for j in 0..<n { seen[j] *= inv }
                    row.update(repeating: 0, count: cols.lowerBound)
                    (row + cols.upperBound).update(repeating: 0, count: ld - cols.upperBound)
                    lse[(t0 + i0 + r) * heads + h] = mx + Foundation.log(sum)
                }
                // out[i0..<i0+nb] = p·[v[prefix in view]; v[o0..<i0+nb]]
                let o = out + (t0 + i0) * ldq + h * dh
                if npv > 0 {
                    BLAS.sgemm(
                        transA: false, transB: false, m: nb, n: dh, k: npv, alpha: 1, a: s, lda: ld, b: vp, ldb: ldk, beta: 0,
                        c: o, ldc: ldq)
                }
                BLAS.sgemm(
                    transA: false, transB: false, m: nb, n: dh, k: no, alpha: 1, a: s + npv, lda: ld, b: vg, ldb: ldk,
                    beta: npv > 0 ? 1 : 0, c: o, ldc: ldq)
            }
        }
    }

    // MARK: - Backward

    /// Backward of causal attention inside each segment (no prefixes).
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>, segments: [Range<Int>], heads: Int, kvHeads: Int, headDim: Int,
        window: Int? = nil, scratch: UnsafeMutableBufferPointer<Float>, scale: Float? = nil, softcap: Float? = nil,
        threads: Int = Parallel.threads
    ) {
        backward(
            dq: dq, dk: dk, dv: dv, dout: dout, q: q, k: k, v: v, out: out, lse: lse, spans: segments.map { Span($0) },
            heads: heads, kvHeads: kvHeads, headDim: headDim, window: window, scratch: scratch, scale: scale, softcap: softcap,
            threads: threads)
    }

    /// dq (overwritten on the spans' rows), dk, dv (overwritten on the spans' rows and prefixes; a prefix
    /// row sums the gradients of every span that sees it). Differentiates, per span and head,
    /// `s = scale·q·kᵀ; p = softmax(s) (masked); out = p·v` with k, v = [prefix keys; own keys]:
    /// dv += pᵀ·dout; dp = dout·vᵀ; ds = p ⊙ (dp − rowsum(dout ⊙ out)); dq = scale·ds·k; dk += scale·dsᵀ·q.
    /// A task is one key group (`keyGroups`) for one kv head: its spans in order, each span's query blocks
    /// in order, the group's query heads in order, summing straight into dk/dv — rows no other task
    /// writes, in an order that does not depend on the number of workers.
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
        window: Int? = nil,
        scratch: UnsafeMutableBufferPointer<Float>,  // (scratchFloats)
        scale: Float? = nil, softcap: Float? = nil,
        threads: Int = Parallel.threads
    ) {
        checkWindow(window)
        let groups = keyGroups(spans)
        // Largest first (static round-robin then balances the workers); ties in group, then head, order.
        let order = (0..<(groups.count * kvHeads)).sorted {
            let a = groups[$0 / kvHeads].cost, b = groups[$1 / kvHeads].cost
            return a != b ? a > b : $0 < $1
        }
        let plan = plan(spans, heads, kvHeads, headDim, scratch, tasks: order.count, threads: threads)
        let perWorker = blockScratch(plan.longest), bMax = min(blockRows, plan.longest)
        let dh = headDim, ldq = heads * dh, ldk = kvHeads * dh, group = heads / kvHeads
        let scale = scale ?? Float(1 / Double(dh).squareRoot())
        BLAS.withThreads(plan.workers > 1 ? 1 : BLAS.threads) {
            Parallel.forEach(count: plan.tasks, threads: plan.workers) { index, worker in
                let members = groups[order[index] / kvHeads].spans, g = order[index] % kvHeads
                let p = scratch.baseAddress! + worker * perWorker  // (B, npv + no)
                let ds = p + bMax * plan.longest  // (B, npv + no)
                // The group's key rows for head g start at zero; every block below adds to them.
                for s in members {
                    for rows in [spans[s].prefix, spans[s].rows] {
                        for t in rows {
                            (dk + t * ldk + g * dh).update(repeating: 0, count: dh)
                            (dv + t * ldk + g * dh).update(repeating: 0, count: dh)
                        }
                    }
                }
                func blockBackward(_ span: Span, i0: Int, h: Int) {
                    let t0 = span.rows.lowerBound, np = span.prefix.count, p0 = span.prefix.lowerBound
                    let nb = min(blockRows, span.rows.count - i0)
                    let keys = BlockKeys(prefix: np, i0: i0, rows: nb, window: window)
                    let ld = keys.count, npv = keys.prefixKeys, o0 = keys.ownStart, no = i0 + nb - o0
                    let kg = k + (t0 + o0) * ldk + g * dh, vg = v + (t0 + o0) * ldk + g * dh
                    let pv = p0 + np - npv  // first prefix row in view
                    let kp = k + pv * ldk + g * dh, vp = v + pv * ldk + g * dh
                    let dkg = dk + (t0 + o0) * ldk + g * dh, dvg = dv + (t0 + o0) * ldk + g * dh
                    let dkp = dk + pv * ldk + g * dh, dvp = dv + pv * ldk + g * dh
                    let qb = q + (t0 + i0) * ldq + h * dh, ob = out + (t0 + i0) * ldq + h * dh
                    let dob = dout + (t0 + i0) * ldq + h * dh
                    // p = exp(scale · q·kᵀ − lse), recomputed
                    if npv > 0 {
                        BLAS.sgemm(
                            transA: false, transB: true, m: nb, n: npv, k: dh, alpha: scale, a: qb, lda: ldq, b: kp, ldb: ldk,
                            beta: 0, c: p, ldc: ld)
                    }
                    BLAS.sgemm(
                        transA: false, transB: true, m: nb, n: no, k: dh, alpha: scale, a: qb, lda: ldq, b: kg, ldb: ldk,
                        beta: 0, c: p + npv, ldc: ld)
                    // dp = dout·vᵀ
                    if npv > 0 {
                        BLAS.sgemm(
                            transA: false, transB: true, m: nb, n: npv, k: dh, alpha: 1, a: dob, lda: ldq, b: vp, ldb: ldk,
                            beta: 0, c: ds, ldc: ld)
                    }
                    BLAS.sgemm(
                        transA: false, transB: true, m: nb, n: no, k: dh, alpha: 1, a: dob, lda: ldq, b: vg, ldb: ldk,
                        beta: 0, c: ds + npv, ldc: ld)
                    for r in 0..<nb {
                        let cols = keys.columns(r), c0 = cols.lowerBound, c1 = cols.upperBound
                        let prow = p + r * ld, drow = ds + r * ld
                        let delta = dot(dob + r * ldq, ob + r * ldq, dh)
                        if let softcap {
                            // c = cap·tanh(s/cap); p = exp(c − lse); ds = p ⊙ (dp − Σ_d dout·out) ⊙ (1 − tanh²)
                            let m = lse[(t0 + i0 + r) * heads + h]
                            for j in c0..<c1 {
                                let th = Foundation.tanh(prow[j] / softcap)
                                let pj = fastExp(softcap * th - m)
                                prow[j] = pj
                                drow[j] = pj * (drow[j] - delta) * (1 - th * th)
                            }
                            prow.update(repeating: 0, count: c0)
                            (prow + c1).update(repeating: 0, count: ld - c1)
                            drow.update(repeating: 0, count: c0)
                            (drow + c1).update(repeating: 0, count: ld - c1)
                            continue
                        }
                        _ = expShiftSum(prow + c0, cols.count, shift: lse[(t0 + i0 + r) * heads + h])
                        prow.update(repeating: 0, count: c0)
                        (prow + c1).update(repeating: 0, count: ld - c1)
                        // ds = p ⊙ (dp − Σ_d dout·out)
                        var j = c0
                        while j + 8 <= c1 {
                            store8(load8(prow + j) * (load8(drow + j) - delta), drow + j)
                            j += 8
                        }
                        while j < c1 {
                            drow[j] = prow[j] * (drow[j] - delta)
                            j += 1
                        }
                        drow.update(repeating: 0, count: c0)
                        (drow + c1).update(repeating: 0, count: ld - c1)
                    }
                    // dv[prefix in view] += p[:, prefix]ᵀ·dout; dv[o0..<i0+nb] += p[:, own]ᵀ·dout[i0..<i0+nb]
                    if npv > 0 {
                        BLAS.sgemm(
                            transA: true, transB: false, m: npv, n: dh, k: nb, alpha: 1, a: p, lda: ld, b: dob, ldb: ldq,
                            beta: 1, c: dvp, ldc: ldk)
                    }
                    BLAS.sgemm(
                        transA: true, transB: false, m: no, n: dh, k: nb, alpha: 1, a: p + npv, lda: ld, b: dob, ldb: ldq,
                        beta: 1, c: dvg, ldc: ldk)
                    // dq[i0..<i0+nb] = scale · ds·[k[prefix in view]; k[o0..<i0+nb]]
                    let dqb = dq + (t0 + i0) * ldq + h * dh
                    if npv > 0 {
                        BLAS.sgemm(
                            transA: false, transB: false, m: nb, n: dh, k: npv, alpha: scale, a: ds, lda: ld, b: kp, ldb: ldk,
                            beta: 0, c: dqb, ldc: ldq)
                    }
                    BLAS.sgemm(
                        transA: false, transB: false, m: nb, n: dh, k: no, alpha: scale, a: ds + npv, lda: ld, b: kg, ldb: ldk,
                        beta: npv > 0 ? 1 : 0, c: dqb, ldc: ldq)
                    // dk[prefix in view] += scale · ds[:, prefix]ᵀ·q; dk[o0..<i0+nb] += scale · ds[:, own]ᵀ·q[i0..<i0+nb]
                    if npv > 0 {
                        BLAS.sgemm(
                            transA: true, transB: false, m: npv, n: dh, k: nb, alpha: scale, a: ds, lda: ld, b: qb, ldb: ldq,
                            beta: 1, c: dkp, ldc: ldk)
                    }
                    BLAS.sgemm(
                        transA: true, transB: false, m: no, n: dh, k: nb, alpha: scale, a: ds + npv, lda: ld, b: qb, ldb: ldq,
                        beta: 1, c: dkg, ldc: ldk)
                }

                for s in members {
                    let span = spans[s]
                    for i0 in stride(from: 0, to: span.rows.count, by: blockRows) {
                        for h in (g * group)..<((g + 1) * group) {
                            blockBackward(span, i0: i0, h: h)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Decode

    /// Floats of scratch `decode` needs for a cache of `length` positions.
    public static func decodeScratchFloats(length: Int, heads: Int) -> Int { heads * length }

    /// One new token (already appended to the cache at position length−1) attends to cache rows 0..<length,
    /// or to the last `window` of them.
    public static func decode(
        out: UnsafeMutablePointer<Float>,  // (H·Dh)
        q: UnsafePointer<Float>,  // (H·Dh)
        kCache: UnsafePointer<Float>,  // (≥L, Hk·Dh)
        vCache: UnsafePointer<Float>,  // (≥L, Hk·Dh)
        length: Int, heads: Int, kvHeads: Int, headDim: Int,
        window: Int? = nil,
        scratch: UnsafeMutablePointer<Float>,  // (H, L)
        scale: Float? = nil, softcap: Float? = nil
    ) {
        precondition(length >= 1 && heads % kvHeads == 0)
        checkWindow(window)
        // Only rows first..<length are seen: shift the cache pointers and attend to l rows.
        let first = window.map { max(0, length - $0) } ?? 0, l = length - first
        let dh = headDim, ldk = kvHeads * dh, group = heads / kvHeads
        let kCache = kCache + first * ldk, vCache = vCache + first * ldk
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
