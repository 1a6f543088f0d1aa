// The gated MLP's activation: out = silu(gate) · up, with silu(g) = g / (1 + e^-g) as torch computes it.
// N = count of elements (T·F: T tokens, F ffn dim).

public enum SwiGLU {
    // MARK: - Forward

    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (N)
        gate: UnsafePointer<Float>,  // (N)
        up: UnsafePointer<Float>,  // (N)
        count: Int
    ) {
        Parallel.forChunks(count: (count + 7) / 8, minChunk: 2048) { range, _ in
            var i = range.lowerBound * 8
            let end = min(count, range.upperBound * 8)
            while i + 8 <= end {
                let g = load8(gate + i)
                store8(g / (1 + fastExp(-g)) * load8(up + i), out + i)
                i += 8
            }
            while i < end {
                let g = gate[i]
                out[i] = g / (1 + fastExp(-g)) * up[i]
                i += 1
            }
        }
    }

    // MARK: - Backward

    /// dgate, dup = ∂/∂gate, ∂/∂up (overwritten). Differentiates `out = g / (1 + e^-g) · up`:
    /// with σ = 1/(1+e^-g): dup = dout · g·σ; dgate = dout · up · σ·(1 + g·(1 − σ)).
    public static func backward(
        dgate: UnsafeMutablePointer<Float>,  // (N)
        dup: UnsafeMutablePointer<Float>,  // (N)
        dout: UnsafePointer<Float>,  // (N)
        gate: UnsafePointer<Float>,  // (N)
        up: UnsafePointer<Float>,  // (N)
        count: Int
    ) {
        Parallel.forChunks(count: (count + 7) / 8, minChunk: 2048) { range, _ in
            var i = range.lowerBound * 8
            let end = min(count, range.upperBound * 8)
            while i + 8 <= end {
                let g = load8(gate + i), u = load8(up + i), d = load8(dout + i)
                let s = 1 / (1 + fastExp(-g))
                store8(d * g * s, dup + i)
                store8(d * u * s * (1 + g * (1 - s)), dgate + i)
                i += 8
            }
            while i < end {
                let g = gate[i], u = up[i], d = dout[i]
                let s = 1 / (1 + fastExp(-g))
                dup[i] = d * g * s
                dgate[i] = d * u * s * (1 + g * (1 - s))
                i += 1
            }
        }
    }
}
