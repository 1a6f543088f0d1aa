// bf16 products through oneDNN (FrozenLinear with bf16 scratch) against two references in Double:
// (1) the same product on bf16-rounded inputs and weights, which only f32 accumulation separates from
//     ours: |err| ≤ K·2⁻²⁴·Σ|a·w| (+1e-30), a bound that also catches a wrong rounding mode or layout;
// (2) the exact product on the unrounded values: each of a and w is rounded to bf16 with relative error
//     ≤ 2⁻⁹, so each term a·w is off by ≤ 2⁻⁸ relative and |err| ≤ (2⁻⁸ + K·2⁻²⁴)·Σ|a·w| — for random
//     signs the error grows like 2⁻⁸·√K·rms(a·w), so this deterministic bound is safe and still orders
//     of magnitude below a wrong result.
// Skipped (with the reason) on CPUs without bf16 instructions; the fallback note is tested everywhere.

import Foundation
import Kernels
import TensorFile
import Testing

@Suite struct BF16MatmulTests {
    static let available: Bool = {
        if case .available = BF16Matmul.support() { return true }
        return false
    }()

    /// Σ_i a[r, i]·w[c, i] and Σ_i |a[r, i]·w[c, i]| in Double, optionally on bf16-rounded values.
    static func reference(_ a: [Float], _ w: [Float], m: Int, k: Int, n: Int, rounded: Bool) -> (sum: [Double], abs: [Double]) {
        let r: (Float) -> Double = { rounded ? Double(bf16ToFloat(floatToBF16($0))) : Double($0) }
        let ad = a.map(r), wd = w.map(r)
        var sum = [Double](repeating: 0, count: m * n), absSum = sum
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, t = 0.0
                for p in 0..<k {
                    s += ad[i * k + p] * wd[j * k + p]
                    t += abs(ad[i * k + p] * wd[j * k + p])
                }
                sum[i * n + j] = s
                absSum[i * n + j] = t
            }
        }
        return (sum, absSum)
    }

    static func expectWithin(
        _ got: [Float], _ ref: [Double], _ absSum: [Double], factor: Double, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var worst = 0.0
        for i in got.indices { worst = max(worst, abs(Double(got[i]) - ref[i]) / (factor * absSum[i] + 1e-30)) }
        #expect(worst <= 1, "\(what): worst |err| / bound = \(worst)", sourceLocation: sourceLocation)
    }

    // M = 37 rows over 2 workers (blocks of 32 and 5 rows), N = 150 output rows decoded in bf16 blocks of
    // 64 (two full blocks and a ragged one), K = 96; a bias and the accumulating forms.
    @Test(.enabled(if: available, "this CPU has no AVX-512 BF16/AMX"), arguments: DType.allCases)
    func productsMatchReferences(dtype: DType) {
        let m = 37, k = 96, n = 150
        let w = randomFloats(n * k, seed: 40), inp = randomFloats(m * k, seed: 41), bias = randomFloats(n, seed: 42)
        let dout = randomFloats(m * n, seed: 43)
        let bytes = FrozenLinearTests.encode(w, dtype)
        bytes.withUnsafeBytes { raw in
            let matrix = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: n, cols: k)
            var decoded = [Float](repeating: 0, count: n * k)
            matrix.decodeRows(0, count: n, into: &decoded)
            let layer = FrozenLinear(weight: matrix, bias: bias, blockRows: 64, bf16BlockRows: 64)
            #expect(layer.bf16WeightScratch == (dtype == .bf16 ? 0 : 64 * k))
            var inputs = [UInt16](repeating: 0, count: m * max(k, n))
            var weights = [UInt16](repeating: 0, count: max(1, layer.bf16WeightScratch))
            inputs.withUnsafeMutableBufferPointer { ib in
                weights.withUnsafeMutableBufferPointer { wb in
                    let scratch = FrozenLinear.BF16Scratch(inputs: ib.baseAddress!, weights: dtype == .bf16 ? nil : wb.baseAddress!)
                    let f = Self.reference(inp, decoded, m: m, k: k, n: n, rounded: false)
                    let b = Self.reference(inp, decoded, m: m, k: k, n: n, rounded: true)
                    let withBias = { (s: [Double]) in s.enumerated().map { $1 + Double(bias[$0 % n]) } }
                    let acc = Double(k) * 0x1p-24
                    var out = [Float](repeating: .nan, count: m * n)
                    layer.forward(out: &out, inp: inp, rows: m, scratch: nil, bf16: scratch)
                    Self.expectWithin(out, withBias(b.sum), b.abs.map { $0 + 1 }, factor: acc, "\(dtype) forward vs bf16-rounded")
                    Self.expectWithin(out, withBias(f.sum), f.abs.map { $0 + 1 }, factor: 0x1p-8 + acc, "\(dtype) forward vs exact")
                    // bf16 really ran: some element differs from the f32 product.
                    #expect(zip(out, withBias(f.sum)).contains { abs(Double($0) - $1) > 1e-5 }, "\(dtype): no bf16 rounding seen")
                    layer.forward(out: &out, inp: inp, rows: m, scratch: nil, accumulate: true, bf16: scratch)
                    Self.expectWithin(out, withBias(b.sum).map { 2 * $0 }, b.abs.map { 2 * $0 + 2 }, factor: acc, "\(dtype) accumulated forward")

                    // dinp = dout·W: the transposed reference, K ↔ N.
                    let wt = (0..<(k * n)).map { decoded[($0 % n) * k + $0 / n] }  // (K, N)
                    let g = Self.reference(dout, wt, m: m, k: n, n: k, rounded: true)
                    let ge = Self.reference(dout, wt, m: m, k: n, n: k, rounded: false)
                    let accB = Double(n) * 0x1p-24
                    var dinp = [Float](repeating: .nan, count: m * k)
                    layer.backwardInput(dinp: &dinp, dout: dout, rows: m, scratch: nil, bf16: scratch)
                    Self.expectWithin(dinp, g.sum, g.abs, factor: accB, "\(dtype) dinp vs bf16-rounded")
                    Self.expectWithin(dinp, ge.sum, ge.abs, factor: 0x1p-8 + accB, "\(dtype) dinp vs exact")
                    layer.backwardInput(dinp: &dinp, dout: dout, rows: m, scratch: nil, accumulate: true, bf16: scratch)
                    Self.expectWithin(dinp, g.sum.map { 2 * $0 }, g.abs.map { 2 * $0 }, factor: accB, "\(dtype) accumulated dinp")
                }
            }
        }
    }

    /// Rounding: nearest even on ties, NaN kept NaN, infinities and the largest finite values as IEEE says.
    @Test func roundingIsNearestEven() {
        let xs: [Float] = [
            1, -1, 0, -0.0, 1 + 0x1p-8, 1 + 0x1p-7 + 0x1p-8, 1 + 0x1p-9, .infinity, -.infinity, .nan, .greatestFiniteMagnitude, 3.14159,
        ]
        var out = [UInt16](repeating: 0, count: xs.count)
        BF16Matmul.round(xs, into: &out, count: xs.count)
        for (x, b) in zip(xs, out) {
            let expected = floatToBF16(x)
            if x.isNaN { #expect(bf16ToFloat(b).isNaN) } else { #expect(b == expected, "\(x): \(b) vs \(expected)") }
        }
    }

    /// The same shape twice makes no new primitive.
    @Test(.enabled(if: available, "this CPU has no AVX-512 BF16/AMX")) func primitivesAreReused() {
        let m = 21, k = 40, n = 56  // a shape no other test uses
        let a = [UInt16](repeating: floatToBF16(1), count: m * k), b = [UInt16](repeating: floatToBF16(0.5), count: n * k)
        var c = [Float](repeating: 0, count: m * n)
        BF16Matmul.gemm(transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, accumulate: false, c: &c, ldc: n, threads: 1)
        let made = BF16Matmul.primitivesMade
        BF16Matmul.gemm(transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, accumulate: false, c: &c, ldc: n, threads: 1)
        #expect(c.allSatisfy { $0 == 20 })
        #expect(BF16Matmul.primitivesMade == made, "the second product of the same shape made a new primitive")
    }

    @Test func missingFeatureIsReported() {
        #expect(BF16Matmul.support(environment: [BF16Matmul.simulateMissingVariable: "1"]) != .available(isa: "AVX-512 BF16"))
        if case .missing(let reason) = BF16Matmul.support(environment: [BF16Matmul.simulateMissingVariable: "1"]) {
            #expect(reason.contains(BF16Matmul.simulateMissingVariable))
        } else {
            Issue.record("the switch did not simulate a missing feature")
        }
    }
}
