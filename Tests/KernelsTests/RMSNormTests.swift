// RMSNorm: forward against the Double reference (model rows and per-head q/k-norm shapes), and
// finite-difference checks of dinp and dweight.

import Kernels
import Testing

@Suite struct RMSNormTests {
    // One rsqrt and one product per element: f32 vs Double differ by a few ulp (rtol 1e-5), with an
    // atol for outputs near zero.
    @Test(arguments: [(1, 1), (5, 13), (37, 64), (9, 576), (2 * 9 * 3, 64)])
    func forwardMatchesReference(shape: (Int, Int)) {
        let (rows, dim) = shape
        let x = randomFloats(rows * dim, seed: 40, scale: 3), w = randomFloats(dim, seed: 41)
        var out = [Float](repeating: .nan, count: rows * dim), rstd = [Float](repeating: .nan, count: rows)
        RMSNorm.forward(out: &out, rstd: &rstd, inp: x, weight: w, rows: rows, dim: dim, eps: 1e-5)
        expectClose(out, Reference.rmsnorm(inp: x.doubles, weight: w.doubles, rows: rows, dim: dim, eps: 1e-5), atol: 1e-6, rtol: 1e-5, "out")
    }

    // loss = Σ out·r. Central differences with eps 1e-3 on inputs of size ~1: the truncation error
    // eps²·f'''/6 is ~1e-7 here; the f32 analytic gradient is good to ~1e-6. atol 1e-5, rtol 1e-4.
    @Test(arguments: [(3, 5), (4, 19)])
    func backwardMatchesFiniteDifferences(shape: (Int, Int)) {
        let (rows, dim) = shape
        let eps = 1e-5
        let x = randomFloats(rows * dim, seed: 42), w = randomFloats(dim, seed: 43), r = randomFloats(rows * dim, seed: 44)
        var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        RMSNorm.forward(out: &out, rstd: &rstd, inp: x, weight: w, rows: rows, dim: dim, eps: Float(eps))
        var dx = [Float](repeating: .nan, count: rows * dim), dw = [Float](repeating: 0.5, count: dim)
        RMSNorm.backward(dinp: &dx, dweight: &dw, dout: r, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim)
        let gx = centralDifferences(x.doubles, eps: 1e-3) {
            weighted(Reference.rmsnorm(inp: $0, weight: w.doubles, rows: rows, dim: dim, eps: eps), r.doubles)
        }
        let gw = centralDifferences(w.doubles, eps: 1e-3) {
            weighted(Reference.rmsnorm(inp: x.doubles, weight: $0, rows: rows, dim: dim, eps: eps), r.doubles)
        }
        expectClose(dx, gx, atol: 1e-5, rtol: 1e-4, "dinp")
        expectClose(dw, gw.map { $0 + 0.5 }, atol: 1e-5, rtol: 1e-4, "dweight (accumulated onto 0.5)")

        // Frozen weight (nil) and accumulate onto an existing gradient.
        RMSNorm.backward(dinp: &dx, dweight: nil, dout: r, inp: x, weight: w, rstd: rstd, rows: rows, dim: dim, accumulate: true)
        expectClose(dx, gx.map { 2 * $0 }, atol: 2e-5, rtol: 1e-4, "accumulated dinp")
    }
}
