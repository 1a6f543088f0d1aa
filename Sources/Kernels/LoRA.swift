// A LoRA adapter on one linear layer, PEFT semantics: out += scale · (inp·Aᵀ)·Bᵀ, with scale = alpha/R
// (or alpha/√R for rsLoRA; the caller decides). Forward and backward are four sgemms.
// M rows (tokens), K input features, N output features, R rank.

public enum LoRA {
    // MARK: - Forward

    /// out += scale · tmp·Bᵀ with tmp = inp·Aᵀ (saved for backward).
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (M, N) +=
        tmp: UnsafeMutablePointer<Float>,  // (M, R) =
        inp: UnsafePointer<Float>,  // (M, K)
        a: UnsafePointer<Float>,  // (R, K)
        b: UnsafePointer<Float>,  // (N, R)
        scale: Float, m: Int, k: Int, n: Int, r: Int
    ) {
        // tmp = inp·Aᵀ
        BLAS.parallelSgemm(transA: false, transB: true, m: m, n: r, k: k, alpha: 1, a: inp, lda: k, b: a, ldb: k, beta: 0, c: tmp, ldc: r)
        // out += scale · tmp·Bᵀ
        BLAS.parallelSgemm(transA: false, transB: true, m: m, n: n, k: r, alpha: scale, a: tmp, lda: r, b: b, ldb: r, beta: 1, c: out, ldc: n)
    }

    // MARK: - Backward

    /// dinp += ∂/∂inp (the adapter's share of the input gradient), da += ∂/∂A, db += ∂/∂B.
    /// Differentiates `out += scale · tmp·Bᵀ; tmp = inp·Aᵀ`:
    /// dtmp = scale · dout·B; db += scale · doutᵀ·tmp; da += dtmpᵀ·inp; dinp += dtmp·A.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>?,  // (M, K) +=, nil when the input needs no gradient
        da: UnsafeMutablePointer<Float>,  // (R, K) +=
        db: UnsafeMutablePointer<Float>,  // (N, R) +=
        dtmp: UnsafeMutablePointer<Float>,  // (M, R) scratch
        dout: UnsafePointer<Float>,  // (M, N)
        inp: UnsafePointer<Float>,  // (M, K)
        a: UnsafePointer<Float>,  // (R, K)
        b: UnsafePointer<Float>,  // (N, R)
        tmp: UnsafePointer<Float>,  // (M, R)
        scale: Float, m: Int, k: Int, n: Int, r: Int
    ) {
        BLAS.parallelSgemm(transA: false, transB: false, m: m, n: r, k: n, alpha: scale, a: dout, lda: n, b: b, ldb: r, beta: 0, c: dtmp, ldc: r)
        BLAS.parallelSgemm(transA: true, transB: false, m: n, n: r, k: m, alpha: scale, a: dout, lda: n, b: tmp, ldb: r, beta: 1, c: db, ldc: r)
        BLAS.parallelSgemm(transA: true, transB: false, m: r, n: k, k: m, alpha: 1, a: dtmp, lda: r, b: inp, ldb: k, beta: 1, c: da, ldc: k)
        if let dinp {
            BLAS.parallelSgemm(transA: false, transB: false, m: m, n: k, k: r, alpha: 1, a: dtmp, lda: r, b: a, ldb: k, beta: 1, c: dinp, ldc: k)
        }
    }
}
