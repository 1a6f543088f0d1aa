// Micro-benchmarks of the kernels at SmolLM2-135M sizes on a packed batch like the reference job's (4
// sequences of 512 tokens, T = 2048; attention also in the trainer's shared-prompt layout): D 576,
// F 1536, H 9, Hk 3, Dh 64, V 49152. Run with `tools/bench --micro`
// (ordo-one/benchmark; the target exists only when LEANDPO_BENCHMARKS=1, see Package.swift). Each
// benchmark reports wall clock, CPU time, mallocs (the hot kernels should allocate nothing) and, for the
// products, the rate in MFLOP/s from the same FLOP counts as Sources/LeanDPOBench/FlopCount.swift.
// Threads: LEANDPO_THREADS (default 2, the reference job's).

import Benchmark
import Foundation
import Kernels
import SeededRandom
import TensorFile

// MARK: - Sizes and data

let t = 2048, d = 576, f = 1536, heads = 9, kvHeads = 3, headDim = 64, vocab = 49152
let segments = (0..<4).map { $0 * 512..<($0 + 1) * 512 }

/// Deterministic values in [-scale, scale) (SplitMix64), so every run multiplies the same numbers.
func filled(_ count: Int, seed: UInt64, scale: Float = 1) -> UnsafeMutableBufferPointer<Float> {
    let p = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    var g = SplitMix64(seed: seed)
    for i in 0..<count { p[i] = (Float(g.next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    return p
}

/// GGML q8_0: per 32 values an f16 scale max|x|/127 and 32 signed bytes.
func quantizeQ8_0(_ w: UnsafeMutableBufferPointer<Float>) -> UnsafeMutableRawBufferPointer {
    precondition(w.count % 32 == 0)
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: w.count / 32 * 34, alignment: 16)
    for b in 0..<(w.count / 32) {
        let x = w.baseAddress! + b * 32
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let scale = amax / 127
        let inv = scale > 0 ? 1 / scale : 0
        out.storeBytes(of: floatToHalf(scale), toByteOffset: b * 34, as: UInt16.self)
        for j in 0..<32 { out.storeBytes(of: Int8((x[j] * inv).rounded()), toByteOffset: b * 34 + 2 + j, as: Int8.self) }
    }
    return out
}

/// Times `body` inside the measured iteration and records MFLOP/s for `flops` of work.
func measured(_ benchmark: Benchmark, flops: Double?, _ body: () -> Void) {
    let t0 = DispatchTime.now().uptimeNanoseconds
    for _ in benchmark.scaledIterations { body() }
    let ns = Double(DispatchTime.now().uptimeNanoseconds - t0)
    if let flops {
        let rate = flops * Double(benchmark.scaledIterations.count) / ns * 1e3
        benchmark.measurement(.custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false), Int(rate))
    }
}

let benchmarks: @Sendable () -> Void = {
    let threads = Int(ProcessInfo.processInfo.environment["LEANDPO_THREADS"] ?? "") ?? 2
    Parallel.threads = threads
    BLAS.setThreads(threads)
    let flopsMetric = BenchmarkMetric.custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, flopsMetric], warmupIterations: 1, maxDuration: .seconds(3),
        maxIterations: 20)
    // CPU time has clock-tick (10 ms) resolution: useless for the short elementwise kernels
    let elementwise = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(2), maxIterations: 200)

    // MARK: FrozenLinear (the sgemm wrapper)

    for (k, n) in [(d, f), (f, d)] {
        let inp = filled(t * k, seed: 1), out = filled(t * n, seed: 2), dinp = filled(t * k, seed: 3)
        let w = filled(n * k, seed: 4, scale: 0.05)
        let q8 = quantizeQ8_0(w)
        let flops = 2 * Double(t * k * n)
        for (dtype, base) in [(DType.f32, UnsafeRawPointer(w.baseAddress!)), (.q8_0, UnsafeRawPointer(q8.baseAddress!))] {
            let layer = FrozenLinear(weight: WeightMatrix(base: base, dtype: dtype, rows: n, cols: k))
            let scratch = filled(max(1, layer.scratchFloats), seed: 5)
            Benchmark("FrozenLinear \(dtype.rawValue) forward \(t)x\(k)->\(n)") { b in
                measured(b, flops: flops) { layer.forward(out: out.baseAddress!, inp: inp.baseAddress!, rows: t, scratch: scratch.baseAddress) }
            }
            Benchmark("FrozenLinear \(dtype.rawValue) backwardInput \(t)x\(n)->\(k)") { b in
                measured(b, flops: flops) {
                    layer.backwardInput(dinp: dinp.baseAddress!, dout: out.baseAddress!, rows: t, scratch: scratch.baseAddress)
                }
            }
        }
    }

    // MARK: Attention: packed 4×512, and the trainer's shared-prompt layout

    // Shared prompts (PairBatch): 4 chosen sequences of 256 prompt + 256 completion tokens, then 4
    // rejected completions of 256 tokens, each continuing its chosen sequence's prompt (T = 3072).
    let shared =
        (0..<4).map { Attention.Span($0 * 512..<($0 + 1) * 512) }
        + (0..<4).map { Attention.Span(2048 + $0 * 256..<2048 + ($0 + 1) * 256, prefix: $0 * 512..<$0 * 512 + 256) }
    for (name, spans) in [("4x512", segments.map { Attention.Span($0) }), ("shared-prompt 4x(256+256|256)", shared)] {
        let rows = spans.map(\.rows.upperBound).max()!, longest = spans.map(\.keys).max()!
        let qd = heads * headDim, kvd = kvHeads * headDim
        let q = filled(rows * qd, seed: 6), k = filled(rows * kvd, seed: 7), v = filled(rows * kvd, seed: 8)
        let out = filled(rows * qd, seed: 9), lse = filled(rows * heads, seed: 10)
        let dq = filled(rows * qd, seed: 11), dk = filled(rows * kvd, seed: 12), dv = filled(rows * kvd, seed: 13)
        let scratch = filled(Attention.scratchFloats(maxSegmentLength: longest), seed: 14)
        // score entries the blocked kernel computes (FlopCount.scoreEntries): nb rows × (prefix + i0 + nb) keys
        var entries = 0.0
        for s in spans {
            var i0 = 0
            while i0 < s.rows.count {
                let nb = min(Attention.blockRows, s.rows.count - i0)
                entries += Double(nb * (s.prefix.count + i0 + nb))
                i0 += nb
            }
        }
        let perEntry = Double(headDim * heads)
        Attention.forward(
            out: out.baseAddress!, lse: lse.baseAddress!, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!, spans: spans,
            heads: heads, kvHeads: kvHeads, headDim: headDim, scratch: scratch)
        Benchmark("Attention forward \(name)") { b in
            measured(b, flops: 4 * perEntry * entries) {
                Attention.forward(
                    out: out.baseAddress!, lse: lse.baseAddress!, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!,
                    spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim, scratch: scratch)
            }
        }
        Benchmark("Attention backward \(name)") { b in
            measured(b, flops: 10 * perEntry * entries) {
                Attention.backward(
                    dq: dq.baseAddress!, dk: dk.baseAddress!, dv: dv.baseAddress!, dout: out.baseAddress!, q: q.baseAddress!,
                    k: k.baseAddress!, v: v.baseAddress!, out: out.baseAddress!, lse: lse.baseAddress!, spans: spans,
                    heads: heads, kvHeads: kvHeads, headDim: headDim, scratch: scratch)
            }
        }
    }

    // MARK: RMSNorm and RoPE

    do {
        let x = filled(t * d, seed: 15), w = filled(d, seed: 16), out = filled(t * d, seed: 17), rstd = filled(t, seed: 18)
        let dx = filled(t * d, seed: 19)
        Benchmark("RMSNorm forward \(t)x\(d)", configuration: elementwise) { b in
            measured(b, flops: nil) {
                RMSNorm.forward(
                    out: out.baseAddress!, rstd: rstd.baseAddress!, inp: x.baseAddress!, weight: w.baseAddress!, rows: t, dim: d, eps: 1e-5)
            }
        }
        Benchmark("RMSNorm backward \(t)x\(d)", configuration: elementwise) { b in
            measured(b, flops: nil) {
                RMSNorm.backward(
                    dinp: dx.baseAddress!, dweight: nil, dout: out.baseAddress!, inp: x.baseAddress!, weight: w.baseAddress!,
                    rstd: rstd.baseAddress!, rows: t, dim: d)
            }
        }
        let table = try? RoPE.Table(headDim: headDim, theta: 100_000, scaling: nil, maxPosition: 512)
        let positions = UnsafeMutableBufferPointer<Int32>.allocate(capacity: t)
        for i in 0..<t { positions[i] = Int32(i % 512) }
        let qx = filled(t * heads * headDim, seed: 20)
        if let table {
            Benchmark("RoPE forward \(t)x\(heads)x\(headDim)", configuration: elementwise) { b in
                measured(b, flops: nil) {
                    RoPE.forward(x: qx.baseAddress!, positions: positions.baseAddress!, count: t, heads: heads, headDim: headDim, table: table)
                }
            }
            Benchmark("RoPE backward \(t)x\(heads)x\(headDim)", configuration: elementwise) { b in
                measured(b, flops: nil) {
                    RoPE.backward(dx: qx.baseAddress!, positions: positions.baseAddress!, count: t, heads: heads, headDim: headDim, table: table)
                }
            }
        }
    }

    // MARK: TokenLogProbs (LM head fused with log-softmax)

    do {
        let rows = 1024
        let hidden = filled(rows * d, seed: 21), weight = filled(vocab * d, seed: 22, scale: 0.1)
        let logps = filled(rows, seed: 23), lse = filled(rows, seed: 24), dlogps = filled(rows, seed: 25), dhidden = filled(rows * d, seed: 26)
        let targets = UnsafeMutableBufferPointer<Int32>.allocate(capacity: rows)
        for i in 0..<rows { targets[i] = Int32(i * 97 % vocab) }
        let w = WeightMatrix(base: UnsafeRawPointer(weight.baseAddress!), dtype: .f32, rows: vocab, cols: d)
        let scratch = filled(TokenLogProbs.scratchFloats(rows: rows, dim: d, vocab: vocab, dtype: .f32), seed: 27)
        let flops = 2 * Double(rows * d * vocab)
        let heavy = Benchmark.Configuration(
            metrics: [.wallClock, .cpuTotal, .mallocCountTotal, flopsMetric], warmupIterations: 1, maxDuration: .seconds(5), maxIterations: 8)
        TokenLogProbs.forward(
            logps: logps.baseAddress!, lse: lse.baseAddress!, hidden: hidden.baseAddress!, targets: targets.baseAddress!, weight: w, rows: rows,
            scratch: scratch)
        Benchmark("TokenLogProbs forward \(rows) rows V=\(vocab)", configuration: heavy) { b in
            measured(b, flops: flops) {
                TokenLogProbs.forward(
                    logps: logps.baseAddress!, lse: lse.baseAddress!, logitMeans: nil, hidden: hidden.baseAddress!, targets: targets.baseAddress!,
                    weight: w, rows: rows, scratch: scratch)
            }
        }
        Benchmark("TokenLogProbs backward \(rows) rows V=\(vocab)", configuration: heavy) { b in
            measured(b, flops: 2 * flops) {
                TokenLogProbs.backward(
                    dhidden: dhidden.baseAddress!, dlogps: dlogps.baseAddress!, hidden: hidden.baseAddress!, targets: targets.baseAddress!,
                    lse: lse.baseAddress!, weight: w, rows: rows, scratch: scratch)
            }
        }
    }
}
