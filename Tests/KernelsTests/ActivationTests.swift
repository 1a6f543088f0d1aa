// SwiGLU and the elementwise helpers: forward against the Double formula (including large |gate|,
// where a naive exp would overflow) and finite-difference checks of the backward.

import Foundation
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

    // MARK: - GeGLU (Gemma's gelu_pytorch_tanh)

    /// PyTorch's gelu(approximate="tanh") in Double.
    static func gelu(_ g: [Double], up: [Double]) -> [Double] {
        zip(g, up).map { x, u in 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) * u }
    }

    // tanh and a few products in f32: rtol 1e-5, atol 1e-6 (large negative gates give ~0).
    @Test func gegluForwardMatchesFormula() {
        var gate = randomFloats(1003, seed: 80, scale: 6)
        gate[0] = 95
        gate[1] = -95
        gate[2] = 0
        let up = randomFloats(1003, seed: 81, scale: 2)
        var out = [Float](repeating: .nan, count: gate.count)
        GeGLU.forward(out: &out, gate: gate, up: up, count: gate.count)
        expectClose(out, Self.gelu(gate.doubles, up: up.doubles), atol: 1e-6, rtol: 1e-5, "gelu_tanh(gate)·up")
    }

    // loss = Σ out·r; eps 1e-3 on gates in [-4, 4]: truncation error < 1e-7; atol 1e-5, rtol 1e-4.
    @Test func gegluBackwardMatchesFiniteDifferences() {
        let n = 37
        let gate = randomFloats(n, seed: 82, scale: 4), up = randomFloats(n, seed: 83, scale: 2), r = randomFloats(n, seed: 84)
        var dgate = [Float](repeating: .nan, count: n), dup = [Float](repeating: .nan, count: n)
        GeGLU.backward(dgate: &dgate, dup: &dup, dout: r, gate: gate, up: up, count: n)
        expectClose(
            dgate, centralDifferences(gate.doubles, eps: 1e-3) { weighted(Self.gelu($0, up: up.doubles), r.doubles) }, atol: 1e-5,
            rtol: 1e-4, "dgate")
        expectClose(
            dup, centralDifferences(up.doubles, eps: 1e-3) { weighted(Self.gelu(gate.doubles, up: $0), r.doubles) }, atol: 1e-5,
            rtol: 1e-4, "dup")
    }
}
