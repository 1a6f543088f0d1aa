// RMSNorm with Hugging Face semantics, in f32: out = w · (x · rsqrt(mean(x²) + eps)). Also used per head
// for Qwen3's q/k norm (rows = T·H, dim = Dh).
// R rows, C = dim (features normalised together).

public enum RMSNorm {
    // MARK: - Forward

    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (R, C)
        rstd: UnsafeMutablePointer<Float>,  // (R) saved for backward
        inp: UnsafePointer<Float>,  // (R, C)
        weight: UnsafePointer<Float>,  // (C)
        rows: Int, dim: Int, eps: Float
    ) {
        Parallel.forChunks(count: rows, minChunk: max(1, 8192 / max(1, dim))) { range, _ in
            for r in range {
                let x = inp + r * dim, o = out + r * dim
                // variance = x.pow(2).mean(-1); x = x * torch.rsqrt(variance + eps)
                let variance = dot(x, x, dim) / Float(dim)
                let s = 1 / (variance + eps).squareRoot()
                rstd[r] = s
                var i = 0
                while i + 8 <= dim {
                    store8(load8(weight + i) * (load8(x + i) * s), o + i)
                    i += 8
                }
                while i < dim {
                    o[i] = weight[i] * (x[i] * s)
                    i += 1
                }
            }
        }
    }

    // MARK: - Backward

    /// dinp = ∂/∂inp (or += with `accumulate`); dweight += ∂/∂w unless nil (a frozen norm).
    /// Differentiates `out[i] = w[i] · x[i] · s` with `s = (Σ x² / C + eps)^-1/2`:
    /// dx[i] = s·w[i]·dout[i] − x[i] · s³/C · Σ_j w[j]·dout[j]·x[j];  dw[i] += Σ_rows dout[i]·x[i]·s.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>,  // (R, C)
        dweight: UnsafeMutablePointer<Float>?,  // (C)
        dout: UnsafePointer<Float>,  // (R, C)
        inp: UnsafePointer<Float>,  // (R, C)
        weight: UnsafePointer<Float>,  // (C)
        rstd: UnsafePointer<Float>,  // (R)
        rows: Int, dim: Int, accumulate: Bool = false
    ) {
        Parallel.forChunks(count: rows, minChunk: max(1, 8192 / max(1, dim))) { range, _ in
            for r in range {
                let x = inp + r * dim, dy = dout + r * dim, dx = dinp + r * dim
                let s = rstd[r]
                // Σ_j w[j]·dout[j]·x[j]
                var acc = SIMD8<Float>()
                var i = 0
                while i + 8 <= dim {
                    acc += load8(weight + i) * load8(dy + i) * load8(x + i)
                    i += 8
                }
                var wdx = acc.sum()
                while i < dim {
                    wdx += weight[i] * dy[i] * x[i]
                    i += 1
                }
                let c = wdx * s * s * s / Float(dim)
                i = 0
                while i + 8 <= dim {
                    var g = s * load8(weight + i) * load8(dy + i) - c * load8(x + i)
                    if accumulate { g += load8(dx + i) }
                    store8(g, dx + i)
                    i += 8
                }
                while i < dim {
                    let g = s * weight[i] * dy[i] - c * x[i]
                    dx[i] = accumulate ? dx[i] + g : g
                    i += 1
                }
            }
        }
        guard let dweight else { return }
        // Columns are independent sums over rows: split columns across workers (no shared writes).
        Parallel.forChunks(count: (dim + 7) / 8, minChunk: max(1, 64 / max(1, rows))) { range, _ in
            let c0 = range.lowerBound * 8, c1 = min(dim, range.upperBound * 8)
            for r in 0..<rows {
                let x = inp + r * dim, dy = dout + r * dim
                let s = rstd[r]
                for c in c0..<c1 { dweight[c] += dy[c] * x[c] * s }
            }
        }
    }
}
