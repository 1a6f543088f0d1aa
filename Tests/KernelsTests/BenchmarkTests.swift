// Timings of the kernels at SmolLM2-135M sizes (D 576, F 1536, H 9, Hk 3, Dh 64, V 49152), printed for
// tuning; they assert only that the outputs are finite. Enabled with LEANDPO_BENCH=1 (they take seconds).

import Foundation
import Kernels
import TensorFile
import Testing

@Suite(.enabled(if: ProcessInfo.processInfo.environment["LEANDPO_BENCH"] != nil), .serialized)
struct BenchmarkTests {
    /// Best wall time of `reps` runs, in milliseconds.
    func time(_ reps: Int = 5, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return best
    }

    func report(_ what: String, _ ms: Double, flops: Double? = nil) {
        let rate = flops.map { String(format: "  %.1f GFLOPS", $0 / ms / 1e6) } ?? ""
        print(String(format: "%@: %.2f ms", what, ms) + rate)
    }

    @Test func attention() {
        let h = 9, hk = 3, dh = 64
        for segments in [[0..<1024], [0..<256, 256..<512, 512..<768, 768..<1024]] {
            let t = 1024
            let longest = segments.map(\.count).max()!
            let q = randomFloats(t * h * dh, seed: 1), k = randomFloats(t * hk * dh, seed: 2), v = randomFloats(t * hk * dh, seed: 3)
            var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: t * h)
            var dq = out, dk = k, dv = v
            var scratch = [Float](repeating: 0, count: Attention.scratchFloats(tokens: t, maxSegmentLength: longest, kvHeads: hk, headDim: dh))
            let pairs = Double(segments.map { $0.count * ($0.count + 1) / 2 }.reduce(0, +))
            scratch.withUnsafeMutableBufferPointer { s in
                let f = time {
                    Attention.forward(out: &out, lse: &lse, q: q, k: k, v: v, segments: segments, heads: h, kvHeads: hk, headDim: dh, scratch: s)
                }
                report("attention forward T=1024 segments \(segments.count)", f, flops: 4 * pairs * Double(dh * h))
                let b = time {
                    Attention.backward(
                        dq: &dq, dk: &dk, dv: &dv, dout: out, q: q, k: k, v: v, out: out, lse: lse, segments: segments, heads: h,
                        kvHeads: hk, headDim: dh, scratch: s)
                }
                report("attention backward T=1024 segments \(segments.count)", b, flops: 10 * pairs * Double(dh * h))
            }
            #expect(dq.allSatisfy { $0.isFinite } && out.allSatisfy { $0.isFinite })
        }
    }

    @Test func frozenLinear() {
        let m = 1024
        for (n, k) in [(1536, 576), (576, 1536)] {
            let w = randomFloats(n * k, seed: 4), inp = randomFloats(m * k, seed: 5)
            for dtype in [DType.f32, .q4_1, .q8_0, .bf16] {
                let bytes = FrozenLinearTests.encode(w, dtype)
                bytes.withUnsafeBytes { raw in
                    let layer = FrozenLinear(weight: WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: n, cols: k))
                    var scratch = [Float](repeating: 0, count: max(1, layer.scratchFloats))
                    var out = [Float](repeating: 0, count: m * n), dinp = inp
                    let f = time { layer.forward(out: &out, inp: inp, rows: m, scratch: &scratch) }
                    report("FrozenLinear \(dtype) \(m)x\(k)->\(n) forward", f, flops: 2 * Double(m * n * k))
                    let b = time { layer.backwardInput(dinp: &dinp, dout: out, rows: m, scratch: &scratch) }
                    report("FrozenLinear \(dtype) \(m)x\(k)->\(n) backwardInput", b, flops: 2 * Double(m * n * k))
                    var row = [Float](repeating: 0, count: n)
                    let g = time { layer.forward(out: &row, inp: inp, rows: 1, scratch: &scratch) }
                    report("FrozenLinear \(dtype) 1x\(k)->\(n) forward (decode step)", g)
                    #expect(out.allSatisfy { $0.isFinite })
                }
            }
        }
    }

    @Test func tokenLogProbs() {
        let n = 512, d = 576, v = 49152
        let hidden = randomFloats(n * d, seed: 6), weight = randomFloats(v * d, seed: 7, scale: 0.1)
        let targets = (0..<n).map { Int32($0 * 97 % v) }
        for dtype in [DType.f32, .q8_0] {
            let bytes = FrozenLinearTests.encode(weight, dtype)
            bytes.withUnsafeBytes { raw in
                let w = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: v, cols: d)
                var logps = [Float](repeating: 0, count: n), lse = logps, dlogps = [Float](repeating: 1, count: n)
                var dhidden = hidden
                var scratch = [Float](repeating: 0, count: TokenLogProbs.scratchFloats(rows: n, dim: d, vocab: v, dtype: dtype))
                scratch.withUnsafeMutableBufferPointer { s in
                    let f = time(3) { TokenLogProbs.forward(logps: &logps, lse: &lse, hidden: hidden, targets: targets, weight: w, rows: n, scratch: s) }
                    report("TokenLogProbs \(dtype) N=\(n) V=\(v) forward", f, flops: 2 * Double(n * d * v))
                    let b = time(3) {
                        TokenLogProbs.backward(dhidden: &dhidden, dlogps: &dlogps, hidden: hidden, targets: targets, lse: lse, weight: w, rows: n, scratch: s)
                    }
                    report("TokenLogProbs \(dtype) N=\(n) V=\(v) backward", b, flops: 4 * Double(n * d * v))
                }
                #expect(logps.allSatisfy { $0.isFinite } && dhidden.allSatisfy { $0.isFinite })
            }
        }
    }

    @Test func elementwise() {
        let t = 1024, d = 576, f = 1536
        let x = randomFloats(t * d, seed: 8), w = randomFloats(d, seed: 9)
        var out = x, rstd = [Float](repeating: 0, count: t), dx = x, dw = w
        report("RMSNorm forward 1024x576", time { RMSNorm.forward(out: &out, rstd: &rstd, inp: x, weight: w, rows: t, dim: d, eps: 1e-5) })
        report("RMSNorm backward 1024x576", time { RMSNorm.backward(dinp: &dx, dweight: &dw, dout: out, inp: x, weight: w, rstd: rstd, rows: t, dim: d) })
        let g = randomFloats(t * f, seed: 10, scale: 4), u = randomFloats(t * f, seed: 11)
        var h = g, dg = g, du = u
        report("SwiGLU forward 1024x1536", time { SwiGLU.forward(out: &h, gate: g, up: u, count: t * f) })
        report("SwiGLU backward 1024x1536", time { SwiGLU.backward(dgate: &dg, dup: &du, dout: h, gate: g, up: u, count: t * f) })
        let table = try! RoPE.Table(headDim: 64, theta: 10_000, scaling: nil, maxPosition: 1024)
        let pos = (0..<Int32(t)).map { $0 }
        var q = randomFloats(t * 9 * 64, seed: 12)
        report("RoPE forward 1024x9x64", time { RoPE.forward(x: &q, positions: pos, count: t, heads: 9, headDim: 64, table: table) })
        #expect(h.allSatisfy { $0.isFinite } && q.allSatisfy { $0.isFinite })
    }
}
