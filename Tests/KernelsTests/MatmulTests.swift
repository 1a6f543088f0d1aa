// Matmul (f32 weights): forward against the naive reference on odd shapes, accumulate and bias paths,
// and finite-difference checks of both backward products.

import Kernels
import Testing

@Suite struct MatmulTests {
    // Forward: values are O(1) sums of K products; f32 sgemm vs a Double loop differ by ~K·6e-8,
    // so atol 1e-5·√K-ish and rtol 1e-5 leave a wide margin for K ≤ 257.
    @Test(arguments: [(1, 1, 1), (7, 13, 5), (33, 64, 17), (128, 96, 257)])
    func forwardMatchesReference(shape: (Int, Int, Int)) {
        let (m, k, n) = shape
        let inp = randomFloats(m * k, seed: 10), w = randomFloats(n * k, seed: 11), bias = randomFloats(n, seed: 12)
        let expected = Reference.matmul(inp: inp.doubles, weight: w.doubles, bias: bias.doubles, m: m, k: k, n: n)
        var out = [Float](repeating: .nan, count: m * n)
        Matmul.forward(out: &out, inp: inp, weight: w, bias: bias, m: m, k: k, n: n)
        expectClose(out, expected, atol: 1e-4, rtol: 1e-5, "out with bias")

        let noBias = Reference.matmul(inp: inp.doubles, weight: w.doubles, bias: nil, m: m, k: k, n: n)
        Matmul.forward(out: &out, inp: inp, weight: w, bias: nil, m: m, k: k, n: n)
        expectClose(out, noBias, atol: 1e-4, rtol: 1e-5, "out without bias")

        // accumulate: out already holds inp·Wᵀ; adding inp·Wᵀ + bias again gives 2·inp·Wᵀ + bias.
        Matmul.forward(out: &out, inp: inp, weight: w, bias: bias, m: m, k: k, n: n, accumulate: true)
        expectClose(out, zip(noBias, expected).map { $0 + $1 }, atol: 2e-4, rtol: 1e-5, "accumulated out")
    }

    // Backward: loss = Σ out·r. Central differences on the Double reference with eps 1e-3 are exact up
    // to rounding for a bilinear function (no truncation error), so the only error is the f32 kernel's:
    // atol 1e-4, rtol 1e-4.
    @Test func backwardMatchesFiniteDifferences() {
        let m = 5, k = 7, n = 3
        let inp = randomFloats(m * k, seed: 20), w = randomFloats(n * k, seed: 21), bias = randomFloats(n, seed: 22)
        let r = randomFloats(m * n, seed: 23)
        func loss(_ i: [Double], _ w: [Double], _ b: [Double]) -> Double {
            weighted(Reference.matmul(inp: i, weight: w, bias: b, m: m, k: k, n: n), r.doubles)
        }
        var dinp = [Float](repeating: .nan, count: m * k)
        Matmul.backwardInput(dinp: &dinp, dout: r, weight: w, m: m, k: k, n: n)
        expectClose(dinp, centralDifferences(inp.doubles, eps: 1e-3) { loss($0, w.doubles, bias.doubles) }, atol: 1e-4, rtol: 1e-4, "dinp")

        // accumulate on dinp adds.
        Matmul.backwardInput(dinp: &dinp, dout: r, weight: w, m: m, k: k, n: n, accumulate: true)
        expectClose(
            dinp, centralDifferences(inp.doubles, eps: 1e-3) { 2 * loss($0, w.doubles, bias.doubles) }, atol: 2e-4, rtol: 1e-4, "accumulated dinp")
    }
}
