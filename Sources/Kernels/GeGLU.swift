// Gemma's gated MLP activation: out = gelu_tanh(gate) · up, with PyTorch's tanh approximation
// (gelu(approximate="tanh"), transformers' gelu_pytorch_tanh): gelu(g) = ½·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
// N = count of elements (T·F: T tokens, F ffn dim).

import Foundation

public enum GeGLU {
    static let beta: Float = 0.797_884_560_802_865_4  // √(2/π)
    static let kappa: Float = 0.044715

    /// gelu_tanh(g) and its derivative.
    @inline(__always) static func gelu(_ g: Float) -> (value: Float, slope: Float) {
        let inner = beta * (g + kappa * g * g * g)
        let t = Foundation.tanh(inner)
        let value = 0.5 * g * (1 + t)
        // d/dg = ½(1 + t) + ½·g·(1 − t²)·√(2/π)·(1 + 3κg²)
        let slope = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * beta * (1 + 3 * kappa * g * g)
        return (value, slope)
    }

    // MARK: - Forward

    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (N)
        gate: UnsafePointer<Float>,  // (N)
        up: UnsafePointer<Float>,  // (N)
        count: Int
    ) {
        Parallel.forChunks(count: count, minChunk: 8192) { range, _ in
            for i in range { out[i] = gelu(gate[i]).value * up[i] }
        }
    }

    // MARK: - Backward

    /// dgate, dup = ∂/∂gate, ∂/∂up (overwritten). Differentiates `out = gelu_tanh(g) · up`:
    /// dup = dout · gelu(g); dgate = dout · up · gelu'(g).
    public static func backward(
        dgate: UnsafeMutablePointer<Float>,  // (N)
        dup: UnsafeMutablePointer<Float>,  // (N)
        dout: UnsafePointer<Float>,  // (N)
        gate: UnsafePointer<Float>,  // (N)
        up: UnsafePointer<Float>,  // (N)
        count: Int
    ) {
        Parallel.forChunks(count: count, minChunk: 8192) { range, _ in
            for i in range {
                let (v, s) = gelu(gate[i])
                let d = dout[i]
                dup[i] = d * v
                dgate[i] = d * up[i] * s
            }
        }
    }
}
