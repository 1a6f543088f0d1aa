// Dense linear layers on f32 weights in Hugging Face layout (out, in): out = inp·Wᵀ (+ bias) and its input
// gradient (llm.c's matmul_forward/backward; the base weights are frozen). Every product is one sgemm.
// M rows (tokens), K input features, N output features.

public enum Matmul {
    // MARK: - Forward

    /// out = inp·Wᵀ + bias, or out += inp·Wᵀ + bias with `accumulate`.
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (M, N)
        inp: UnsafePointer<Float>,  // (M, K)
        weight: UnsafePointer<Float>,  // (N, K)
        bias: UnsafePointer<Float>?,  // (N)
        m: Int, k: Int, n: Int, accumulate: Bool = false
    ) {
        if let bias { addBias(out: out, bias: bias, m: m, n: n, accumulate: accumulate) }
        BLAS.parallelSgemm(
            transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: inp, lda: k, b: weight, ldb: k,
            beta: accumulate || bias != nil ? 1 : 0, c: out, ldc: n)
    }

    /// Writes (or adds) the bias to every row of `out`, before a product that accumulates onto it.
    static func addBias(out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, m: Int, n: Int, accumulate: Bool) {
        for r in 0..<m {
            let o = out + r * n
            if accumulate {
                axpy(o, 1, bias, n)
            } else {
                o.update(from: bias, count: n)
            }
        }
    }

    // MARK: - Backward

    /// dinp = dout·W (or += with `accumulate`).
    /// Differentiates `out[m, n] = Σ_k inp[m, k]·W[n, k]`: dinp[m, k] = Σ_n dout[m, n]·W[n, k].
    public static func backwardInput(
        dinp: UnsafeMutablePointer<Float>,  // (M, K)
        dout: UnsafePointer<Float>,  // (M, N)
        weight: UnsafePointer<Float>,  // (N, K)
        m: Int, k: Int, n: Int, accumulate: Bool = false
    ) {
        BLAS.parallelSgemm(
            transA: false, transB: false, m: m, n: k, k: n, alpha: 1, a: dout, lda: n, b: weight, ldb: k,
            beta: accumulate ? 1 : 0, c: dinp, ldc: k)
    }
}
