// Attention over packed spans: forward (out and lse) against the Double reference for GQA ratios
// 1, 3 and 4 with segments of different lengths (1, shorter and longer than a 64-row query block) and
// spans that also see a shared prefix (one or two continuations of a prompt, prefixes longer than a
// block), finite-difference checks of dq/dk/dv (prefix rows sum both continuations' gradients), and the
// KV-cache decode step; each also with a sliding window shorter than the spans (a query sees its last
// `window` keys, prefix keys included), and forward and finite differences with Gemma's scale and soft cap.

import Kernels
import Testing

@Suite struct AttentionTests {
    struct Case: Sendable, CustomStringConvertible {
        let heads: Int, kvHeads: Int, headDim: Int
        let tokens: Int
        let spans: [Attention.Span]
        let window: Int?
        /// Gemma's score scale (query_pre_attn_scalar^-1/2) and soft cap; nil: 1/√Dh, no cap.
        let scale: Float?, softcap: Float?
        init(
            heads: Int, kvHeads: Int, headDim: Int, tokens: Int, segments: [Range<Int>], window: Int? = nil, scale: Float? = nil,
            softcap: Float? = nil
        ) {
            self.init(
                heads: heads, kvHeads: kvHeads, headDim: headDim, tokens: tokens, spans: segments.map { Attention.Span($0) }, window: window,
                scale: scale, softcap: softcap)
        }
        init(
            heads: Int, kvHeads: Int, headDim: Int, tokens: Int, spans: [Attention.Span], window: Int? = nil, scale: Float? = nil,
            softcap: Float? = nil
        ) {
            self.heads = heads
            self.kvHeads = kvHeads
            self.headDim = headDim
            self.tokens = tokens
            self.spans = spans
            self.window = window
            self.scale = scale
            self.softcap = softcap
        }
        var covered: Int { spans.map(\.rows.upperBound).max()! }
        var description: String {
            "H\(heads) Hk\(kvHeads) Dh\(headDim) spans \(spans.map { $0.prefix.isEmpty ? "\($0.rows.count)" : "\($0.prefix.count)+\($0.rows.count)" })"
                + (window.map { " window \($0)" } ?? "") + (scale.map { " scale \($0)" } ?? "") + (softcap.map { " cap \($0)" } ?? "")
        }
    }

    static func scratch(_ c: Case, threads: Int) -> [Float] {
        let longest = c.spans.map(\.keys).max() ?? 0
        let count = Attention.scratchFloats(maxSegmentLength: longest, threads: threads)
        return [Float](repeating: .nan, count: count)
    }

    static func run(_ c: Case, q: [Float], k: [Float], v: [Float], threads: Int = Parallel.threads) -> (out: [Float], lse: [Float]) {
        var scratch = Self.scratch(c, threads: threads)
        var out = [Float](repeating: 7, count: c.tokens * c.heads * c.headDim)
        var lse = [Float](repeating: 7, count: c.tokens * c.heads)
        scratch.withUnsafeMutableBufferPointer { s in
            Attention.forward(
                out: &out, lse: &lse, q: q, k: k, v: v, spans: c.spans, heads: c.heads, kvHeads: c.kvHeads,
                headDim: c.headDim, window: c.window, scratch: s, scale: c.scale, softcap: c.softcap, threads: threads)
        }
        return (out, lse)
    }

    // Token 205 belongs to no segment and must be left untouched (7). Softmax-weighted averages of
    // O(1) values: f32 vs Double differ by ~1e-6; atol 1e-5, rtol 1e-4.
    @Test(arguments: [
        Case(heads: 4, kvHeads: 4, headDim: 16, tokens: 206, segments: [0..<1, 1..<70, 70..<75, 75..<205]),
        Case(heads: 6, kvHeads: 2, headDim: 16, tokens: 206, segments: [0..<130, 130..<131, 131..<205]),
        Case(heads: 8, kvHeads: 2, headDim: 64, tokens: 206, segments: [0..<64, 64..<129, 129..<205]),
        Case(heads: 3, kvHeads: 1, headDim: 7, tokens: 12, segments: [0..<12]),
        // prompt+chosen, then rejected seeing the prompt; an independent pair; a 100-token prompt shared
        // by two continuations, one longer than a block
        Case(
            heads: 6, kvHeads: 2, headDim: 16, tokens: 206,
            spans: [
                .init(0..<30), .init(30..<50, prefix: 0..<12), .init(50..<60), .init(60..<61, prefix: 50..<51),
                .init(61..<131), .init(131..<205, prefix: 61..<131),
            ]),
        Case(
            heads: 4, kvHeads: 4, headDim: 64, tokens: 206,
            spans: [.init(0..<120), .init(120..<140, prefix: 0..<100), .init(140..<205, prefix: 0..<100)]),
        // Sliding windows: shorter than a block, longer than a block (a block's first rows see more keys
        // than its last rows' windows start at), a window that hides whole prefixes from later blocks, and
        // one longer than every span (no effect).
        Case(heads: 6, kvHeads: 2, headDim: 16, tokens: 206, segments: [0..<1, 1..<70, 70..<75, 75..<205], window: 4),
        Case(heads: 4, kvHeads: 2, headDim: 16, tokens: 206, segments: [0..<130, 130..<205], window: 100),
        Case(
            heads: 6, kvHeads: 2, headDim: 16, tokens: 206,
            spans: [
                .init(0..<30), .init(30..<50, prefix: 0..<12), .init(50..<61), .init(61..<131), .init(131..<205, prefix: 61..<131),
            ], window: 17),
        Case(
            heads: 4, kvHeads: 4, headDim: 64, tokens: 206,
            spans: [.init(0..<120), .init(120..<140, prefix: 0..<100), .init(140..<205, prefix: 0..<100)], window: 70),
        Case(heads: 3, kvHeads: 1, headDim: 7, tokens: 12, segments: [0..<12], window: 1000),
        // Gemma: another scale and a soft cap below the scores' size (|s| reaches ~10 here), with a window.
        Case(heads: 6, kvHeads: 2, headDim: 16, tokens: 206, segments: [0..<1, 1..<70, 70..<205], scale: 0.3, softcap: 3),
        Case(
            heads: 4, kvHeads: 2, headDim: 16, tokens: 206, spans: [.init(0..<120), .init(120..<140, prefix: 0..<100)], window: 70,
            scale: 0.3, softcap: 3),
    ])
    func forwardMatchesReference(c: Case) {
        let q = randomFloats(c.tokens * c.heads * c.headDim, seed: 60, scale: 2)
        let k = randomFloats(c.tokens * c.kvHeads * c.headDim, seed: 61, scale: 2)
        let v = randomFloats(c.tokens * c.kvHeads * c.headDim, seed: 62)
        let (out, lse) = Self.run(c, q: q, k: k, v: v)
        let single = Self.run(c, q: q, k: k, v: v, threads: 1)
        let ref = Reference.attention(
            q: q.doubles, k: k.doubles, v: v.doubles, spans: c.spans, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
            window: c.window, scale: c.scale.map(Double.init), softcap: c.softcap.map(Double.init))
        let covered = c.covered
        let width = c.heads * c.headDim
        expectClose(Array(out[0..<(covered * width)]), Array(ref.out[0..<(covered * width)]), atol: 1e-5, rtol: 1e-4, "out \(c)")
        expectClose(Array(lse[0..<(covered * c.heads)]), Array(ref.lse[0..<(covered * c.heads)]), atol: 1e-5, rtol: 1e-5, "lse \(c)")
        #expect(
            out[(covered * width)...].allSatisfy { $0 == 7 } && lse[(covered * c.heads)...].allSatisfy { $0 == 7 }, "tokens outside spans untouched")
        expectClose(single.out, out.doubles, atol: 1e-6, rtol: 1e-6, "one worker vs all workers \(c)")

        // Backward at this size: every worker count gives the same bits (each dk/dv row is summed by one
        // task in a fixed order); the finite-difference test below checks the values on small shapes.
        let dout = randomFloats(out.count, seed: 59)
        var grads: [[Float]] = []
        for threads in [1, 2, 3, 5] {
            var scratch = Self.scratch(c, threads: threads)
            var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count), dv = dk
            scratch.withUnsafeMutableBufferPointer { s in
                Attention.backward(
                    dq: &dq, dk: &dk, dv: &dv, dout: dout, q: q, k: k, v: v, out: out, lse: lse, spans: c.spans,
                    heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, window: c.window, scratch: s, scale: c.scale, softcap: c.softcap,
                    threads: threads)
            }
            grads.append(Array(dq[0..<(covered * width)] + dk[0..<(covered * c.kvHeads * c.headDim)] + dv[0..<(covered * c.kvHeads * c.headDim)]))
        }
        #expect(grads[0].allSatisfy { $0.isFinite })
        for (i, threads) in [2, 3, 5].enumerated() {
            #expect(grads[i + 1] == grads[0], "backward with \(threads) workers vs one: not the same bits \(c)")
        }
    }

    // loss = Σ out·r. Central differences with eps 1e-3 on a smooth function of O(1) inputs: truncation
    // error ~1e-7; f32 analytic gradients ~1e-6. atol 2e-5, rtol 1e-3. The first case has a 70-token
    // segment, so the backward crosses a query-block boundary (64) and accumulates dk/dv across blocks.
    @Test(arguments: [
        Case(heads: 2, kvHeads: 1, headDim: 4, tokens: 75, segments: [0..<1, 1..<71, 71..<74]),
        Case(heads: 3, kvHeads: 1, headDim: 4, tokens: 9, segments: [0..<4, 4..<9]),
        Case(heads: 4, kvHeads: 4, headDim: 3, tokens: 7, segments: [0..<3, 3..<4, 4..<7]),
        Case(heads: 4, kvHeads: 2, headDim: 5, tokens: 6, segments: [0..<6]),
        Case(heads: 3, kvHeads: 1, headDim: 4, tokens: 13, spans: [.init(0..<5), .init(5..<9, prefix: 0..<3), .init(9..<12, prefix: 0..<3)]),
        Case(heads: 2, kvHeads: 1, headDim: 4, tokens: 80, spans: [.init(0..<10), .init(10..<78, prefix: 0..<7)]),
        // Sliding windows: 1 (each query sees itself only), 3 across segments and a shared prefix, and 20 on
        // a span longer than a block whose later blocks no longer see the prefix.
        Case(heads: 2, kvHeads: 1, headDim: 4, tokens: 7, segments: [0..<7], window: 1),
        Case(
            heads: 3, kvHeads: 1, headDim: 4, tokens: 13, spans: [.init(0..<5), .init(5..<9, prefix: 0..<3), .init(9..<12, prefix: 0..<3)], window: 3),
        Case(heads: 2, kvHeads: 1, headDim: 4, tokens: 80, spans: [.init(0..<10), .init(10..<78, prefix: 0..<7)], window: 20),
        // Soft caps (Gemma 2's attn_logit_softcapping) below the scores' size: scale 2 makes |s| reach ~3, so
        // 1 − tanh²(s/cap) falls to ~0.1 for cap 1 — without the cap's derivative in ds the gradients are off
        // by far more than the tolerance. Also with a window, a shared prefix and more than a block of rows.
        Case(heads: 4, kvHeads: 2, headDim: 4, tokens: 9, segments: [0..<4, 4..<9], scale: 2, softcap: 1),
        Case(
            heads: 3, kvHeads: 1, headDim: 4, tokens: 13, spans: [.init(0..<5), .init(5..<9, prefix: 0..<3), .init(9..<12, prefix: 0..<3)], window: 3,
            scale: 2, softcap: 1.5),
        Case(heads: 2, kvHeads: 1, headDim: 4, tokens: 80, spans: [.init(0..<10), .init(10..<78, prefix: 0..<7)], scale: 2, softcap: 1),
    ])
    func backwardMatchesFiniteDifferences(c: Case) {
        let q = randomFloats(c.tokens * c.heads * c.headDim, seed: 63)
        let k = randomFloats(c.tokens * c.kvHeads * c.headDim, seed: 64)
        let v = randomFloats(c.tokens * c.kvHeads * c.headDim, seed: 65)
        let r = randomFloats(c.tokens * c.heads * c.headDim, seed: 66)
        let (out, lse) = Self.run(c, q: q, k: k, v: v)
        func backward(threads: Int) -> (dq: [Float], dk: [Float], dv: [Float]) {
            var scratch = Self.scratch(c, threads: threads)
            var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count),
                dv = [Float](repeating: .nan, count: v.count)
            // Rows outside every segment keep their old values; give them a known one.
            let covered = c.covered
            for t in covered..<c.tokens {
                for i in 0..<(c.heads * c.headDim) { dq[t * c.heads * c.headDim + i] = 0 }
                for i in 0..<(c.kvHeads * c.headDim) {
                    dk[t * c.kvHeads * c.headDim + i] = 0
                    dv[t * c.kvHeads * c.headDim + i] = 0
                }
            }
            scratch.withUnsafeMutableBufferPointer { s in
                Attention.backward(
                    dq: &dq, dk: &dk, dv: &dv, dout: r, q: q, k: k, v: v, out: out, lse: lse, spans: c.spans,
                    heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, window: c.window, scratch: s, scale: c.scale, softcap: c.softcap)
            }
            return (dq, dk, dv)
        }
        func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            weighted(
                Reference.attention(
                    q: q, k: k, v: v, spans: c.spans, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, window: c.window,
                    scale: c.scale.map(Double.init), softcap: c.softcap.map(Double.init)
                ).out,
                r.doubles)
        }
        let gq = centralDifferences(q.doubles, eps: 1e-3) { loss($0, k.doubles, v.doubles) }
        let gk = centralDifferences(k.doubles, eps: 1e-3) { loss(q.doubles, $0, v.doubles) }
        let gv = centralDifferences(v.doubles, eps: 1e-3) { loss(q.doubles, k.doubles, $0) }
        for threads in Set([Parallel.threads, 1]) {
            let (dq, dk, dv) = backward(threads: threads)
            expectClose(dq, gq, atol: 2e-5, rtol: 1e-3, "dq \(c), \(threads) workers")
            expectClose(dk, gk, atol: 2e-5, rtol: 1e-3, "dk \(c), \(threads) workers")
            expectClose(dv, gv, atol: 2e-5, rtol: 1e-3, "dv \(c), \(threads) workers")
        }
    }

    // The decode step equals the last row of causal attention over the whole cache, with and without a
    // sliding window (atol 1e-5, rtol 1e-4).
    @Test(arguments: [(1, nil), (2, nil), (77, nil), (77, 5), (3, 5), (77, 1)] as [(Int, Int?)])
    func decodeMatchesLastRow(length: Int, window: Int?) {
        let heads = 6, kvHeads = 2, dh = 16
        let q = randomFloats(length * heads * dh, seed: 67, scale: 2)
        let k = randomFloats(length * kvHeads * dh, seed: 68, scale: 2)
        let v = randomFloats(length * kvHeads * dh, seed: 69)
        let ref = Reference.attention(
            q: q.doubles, k: k.doubles, v: v.doubles, segments: [0..<length], heads: heads, kvHeads: kvHeads, headDim: dh,
            window: window)
        var out = [Float](repeating: .nan, count: heads * dh)
        var scratch = [Float](repeating: .nan, count: Attention.decodeScratchFloats(length: length, heads: heads))
        let lastQ = Array(q[((length - 1) * heads * dh)...])
        Attention.decode(
            out: &out, q: lastQ, kCache: k, vCache: v, length: length, heads: heads, kvHeads: kvHeads, headDim: dh, window: window,
            scratch: &scratch)
        expectClose(out, Array(ref.out[((length - 1) * heads * dh)...]), atol: 1e-5, rtol: 1e-4, "decode")
    }
}
