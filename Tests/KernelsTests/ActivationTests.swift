// SwiGLU and the elementwise helpers: forward against the Double formula (including large |gate|,
// where a naive exp would overflow) and finite-difference checks of the backward.

import Kernels
import Testing

@Suite struct ActivationTests {
    // silu through the vectorised exp (≤ 2 ulp) plus a divide and two products: rtol 1e-5; large
    // negative gates give outputs ~1e-12, covered by atol 1e-6.
    @Test func swigluForwardMatchesFormula() {
        var gate = randomFloats(1003, seed: 70, scale: 6)
        gate[0] = 95
        gate[1] = -95
        gate[2] = 30
        gate[3] = -30
        gate[4] = 0
        let up = randomFloats(1003, seed: 71, scale: 2)
        var out = [Float](repeating: .nan, count: gate.count)
        SwiGLU.forward(out: &out, gate: gate, up: up, count: gate.count)
        expectClose(out, Reference.swiglu(gate: gate.doubles, up: up.doubles), atol: 1e-6, rtol: 1e-5, "silu(gate)·up")
    }

    // loss = Σ out·r; eps 1e-3 on gates in [-4, 4]: truncation error < 1e-7; atol 1e-5, rtol 1e-4.
    @Test func swigluBackwardMatchesFiniteDifferences() {
        let n = 37
        let gate = randomFloats(n, seed: 72, scale: 4), up = randomFloats(n, seed: 73, scale: 2), r = randomFloats(n, seed: 74)
        var dgate = [Float](repeating: .nan, count: n), dup = [Float](repeating: .nan, count: n)
        SwiGLU.backward(dgate: &dgate, dup: &dup, dout: r, gate: gate, up: up, count: n)
        expectClose(
            dgate, centralDifferences(gate.doubles, eps: 1e-3) { weighted(Reference.swiglu(gate: $0, up: up.doubles), r.doubles) }, atol: 1e-5,
            rtol: 1e-4, "dgate")
        expectClose(
            dup, centralDifferences(up.doubles, eps: 1e-3) { weighted(Reference.swiglu(gate: gate.doubles, up: $0), r.doubles) }, atol: 1e-5,
            rtol: 1e-4, "dup")
    }
}
