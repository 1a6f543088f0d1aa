// A thin, Swifty wrapper over OpenBLAS's row-major cblas_sgemm, and the same product split over our own
// workers (parallelSgemm). This is the only file that imports COpenBLAS; every other kernel calls
// `BLAS.sgemm` (on the calling thread) or `BLAS.parallelSgemm`.

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
        if m == 1 && !transA && k > 0 {
            // One row (a decode step): a matrix-vector product reads B in place, where sgemm would first
            // copy all of it into its packed layout (most of a decode step's time).
            // c = alpha·op(B)ᵀ·a + beta·c: B (n, k) with transB, else (k, n).
            cblas_sgemv(
                CblasRowMajor, transB ? CblasNoTrans : CblasTrans, Int32(transB ? n : k), Int32(transB ? k : n), alpha, b,
                Int32(ldb), a, 1, beta, c, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension BLAS {
    // MARK: - Products on our own workers

    /// Products below this many flops (2·m·n·k) run on the calling thread: the hand-off costs more. Low
    /// enough that a decode step's matrix-vector products (memory-bound) still use every core.
    public static let parallelMinFlops = 1 << 18

    /// Whether `parallelSgemm` splits products over our own workers (the default). False hands each whole
    /// product to OpenBLAS's own thread pool instead, the design this replaced, for A/B measurement: a
    /// task-local value, bound only around the passes of a model built with that benchmark switch
    /// (`BLAS.$splitsProducts.withValue(false) { … }`), never a process-wide setting.
    @_spi(Benchmarks) @TaskLocal public static var splitsProducts = true

    /// The same product as `sgemm`, cut into blocks of C's rows (or, when C has few rows, of its columns)
    /// that `threads` workers (Parallel) take dynamically, each block one sgemm on the worker's thread.
    /// Every block writes its own part of C, so workers share no sums. With OpenBLAS kept at one thread
    /// this is the only threading the products see: no second thread pool spinning beside ours.
    public static func parallelSgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = Parallel.threads
    ) {
        let flops = 2 * m * n * k
        if !splitsProducts {
            withThreads(threads) {
                sgemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                    c: c, ldc: ldc)
            }
            return
        }
        let workers = min(threads, max(1, flops / parallelMinFlops))
        // Blocks of 16 rows/columns (the kernels' unroll): two per worker on big products so a slow core
        // evens out, one per worker on small ones (a decode step's matrix-vector products).
        let byRows = m >= n || n < 32
        let extent = byRows ? m : n
        let units = (extent + 15) / 16
        guard workers > 1, units >= 2 else {
            sgemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c,
                ldc: ldc)
            return
        }
        let blocks = min(units, flops >= 1 << 24 ? 2 * workers : workers)
        let per = (units + blocks - 1) / blocks * 16
        let count = (extent + per - 1) / per
        Parallel.forEach(count: count, threads: workers) { i, _ in
            let lo = i * per, len = min(per, extent - lo)
            if byRows {
                // rows lo..<lo+len of C = rows of op(A)
                sgemm(
                    transA: transA, transB: transB, m: len, n: n, k: k, alpha: alpha, a: transA ? a + lo : a + lo * lda, lda: lda,
                    b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                // columns lo..<lo+len of C = columns of op(B)
                sgemm(
                    transA: transA, transB: transB, m: m, n: len, k: k, alpha: alpha, a: a, lda: lda,
                    b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }

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
