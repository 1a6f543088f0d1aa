// A thin, Swifty wrapper over OpenBLAS's row-major cblas_sgemm. This is the only file that imports
// COpenBLAS; every other kernel calls `BLAS.sgemm`.

import COpenBLAS

public enum BLAS {
    // MARK: - Kernel set

    /// The OpenBLAS kernel set in use ("Haswell", "SkylakeX", "Cooperlake", …). OpenBLAS picks it at load
    /// time from the CPU, or from the OPENBLAS_CORETYPE environment variable when that is set.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    // MARK: - Threads

    /// Sets how many threads OpenBLAS itself uses for one large product (process-wide).
    /// Kernels that run their own parallel loops call `sgemm` from inside them; OpenBLAS then runs those
    /// smaller products on the calling thread when they are below its threading threshold.
    public static func setThreads(_ count: Int) {
        precondition(count >= 1)
        openblas_set_num_threads(Int32(count))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// OpenBLAS's build description (core type, threading model), for logs and benchmarks.
    public static var configuration: String { String(cString: openblas_get_config()) }

    // MARK: - Products

    /// C = alpha · op(A) · op(B) + beta · C, all row-major. op(A) is (m, k), op(B) is (k, n), C is (m, n).
    /// With `transA` A is stored (k, m); with `transB` B is stored (n, k). Leading dimensions are row strides.
    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0)
        if m == 0 || n == 0 { return }
        precondition(lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n))
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension BLAS {
    /// Runs `body` with OpenBLAS limited to `count` threads, restoring the previous count afterwards.
    /// Kernels whose own workers each call sgemm use it so the two thread pools do not oversubscribe.
    public static func withThreads<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        let saved = threads
        if saved == count { return try body() }
        setThreads(count)
        defer { setThreads(saved) }
        return try body()
    }
}
