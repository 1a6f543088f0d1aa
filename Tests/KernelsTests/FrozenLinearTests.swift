// FrozenLinear over every stored dtype: quantize a random matrix with ggml's reference quantizers, then
// compare the block-decoded product against a plain matmul on the decoded weight; plus the input
// gradient against finite differences.

import Kernels
import TensorFile
import Testing

@Suite struct FrozenLinearTests {
    static func encode(_ w: [Float], _ dtype: DType) -> [UInt8] {
        switch dtype {
        case .f32, .f16, .bf16:
            var bytes = [UInt8](repeating: 0, count: dtype.byteCount(shape: [w.count])!)
            bytes.withUnsafeMutableBytes { dtype.encode(w, into: $0.baseAddress!, count: w.count) }
            return bytes
        case .q8_0: return quantizeQ8_0(w)
        case .q4_0: return quantizeQ4_0(w)
        case .q4_1: return quantizeQ4_1(w)
        }
    }

    // N = 150 output rows with 64-row blocks: two full blocks and a ragged one. The decoded weight is the
    // same f32 data both paths multiply, so only summation order differs: atol/rtol 1e-5 on O(1) values.
    @Test(arguments: DType.allCases)
    func forwardAndBackwardMatchDecodedMatmul(dtype: DType) {
        let m = 9, k = 96, n = 150
        let w = randomFloats(n * k, seed: 30), inp = randomFloats(m * k, seed: 31), bias = randomFloats(n, seed: 32)
        let bytes = Self.encode(w, dtype)
        bytes.withUnsafeBytes { raw in
            let matrix = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: n, cols: k)
            var decoded = [Float](repeating: 0, count: n * k)
            matrix.decodeRows(0, count: n, into: &decoded)
            if dtype == .f32 { #expect(decoded == w) }
            let layer = FrozenLinear(weight: matrix, bias: bias, blockRows: 64)
            #expect(layer.scratchFloats == (dtype == .f32 ? 0 : 64 * k))
            var scratch = [Float](repeating: 0, count: max(1, layer.scratchFloats))

            let expected = Reference.matmul(inp: inp.doubles, weight: decoded.doubles, bias: bias.doubles, m: m, k: k, n: n)
            var out = [Float](repeating: .nan, count: m * n)
            layer.forward(out: &out, inp: inp, rows: m, scratch: &scratch)
            expectClose(out, expected, atol: 1e-5, rtol: 1e-5, "\(dtype) forward")
            layer.forward(out: &out, inp: inp, rows: m, scratch: &scratch, accumulate: true)
            expectClose(out, expected.map { 2 * $0 }, atol: 2e-5, rtol: 1e-5, "\(dtype) accumulated forward (2·(inp·Wᵀ + bias))")

            // Input gradient: loss = Σ out·r is linear in inp, so central differences are exact up to
            // rounding (atol/rtol 1e-4 covers the Double FD's cancellation with eps 1e-3).
            let r = randomFloats(m * n, seed: 33)
            var dinp = [Float](repeating: .nan, count: m * k)
            layer.backwardInput(dinp: &dinp, dout: r, rows: m, scratch: &scratch)
            let g = centralDifferences(inp.doubles, eps: 1e-3) {
                weighted(Reference.matmul(inp: $0, weight: decoded.doubles, bias: bias.doubles, m: m, k: k, n: n), r.doubles)
            }
            expectClose(dinp, g, atol: 1e-4, rtol: 1e-4, "\(dtype) dinp")
            layer.backwardInput(dinp: &dinp, dout: r, rows: m, scratch: &scratch, accumulate: true)
            expectClose(dinp, g.map { 2 * $0 }, atol: 2e-4, rtol: 1e-4, "\(dtype) accumulated dinp")
        }
    }

    // The quantizers themselves: dequantized values stay within half a step of the originals (Q8: step
    // amax/127; Q4_1: step range/15), and within one step for Q4_0 (step amax/8, whose top level 8 is
    // clamped to 7). Values are in [-1, 1), so the bounds are fixed numbers; a nibble-order or scale
    // mistake would break them by far. The f16 rounding of the scale adds < 1e-3.
    @Test func quantizersRoundTrip() {
        let w = randomFloats(32 * 8, seed: 34)
        for (dtype, bound) in [(DType.q8_0, Float(0.5) / 127), (.q4_0, Float(1) / 8), (.q4_1, Float(1) / 15)] {
            let bytes = FrozenLinearTests.encode(w, dtype)
            var back = [Float](repeating: 0, count: w.count)
            bytes.withUnsafeBytes { dtype.decode($0.baseAddress!, into: &back, count: w.count) }
            #expect(maxAbsDiffFloat(back, w) <= bound + 1e-3, "\(dtype) round trip")
        }
    }
}

func maxAbsDiffFloat(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
