// The machine's sgemm ceiling, measured in the same run as the job: OpenBLAS on the shapes of the
// model's big projections (T×D·D×F and T×F·F×D at SmolLM2 sizes), with the job's thread count. MFU is
// the job's matmul rate divided by this.

import Kernels

enum SgemmPeak {
    struct Shape: CustomStringConvertible {
        var m: Int, k: Int, n: Int
        var description: String { "\(m)x\(k)x\(n)" }
        var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
    }

    /// M×K times K×N, written as in FrozenLinear (inp · Wᵀ).
    static let shapes = [Shape(m: 512, k: 576, n: 1536), Shape(m: 1024, k: 1536, n: 576)]

    struct Result {
        /// Best GFLOPS (wall clock) over every round and shape.
        var best: Double
        /// Best GFLOP per CPU-second (all threads' CPU time): on a shared machine this moves far less than
        /// the wall-clock figure, and `mfu_cpu` divides the job's rate per CPU-second by it.
        var bestPerCPUSecond: Double
        var perShape: [(Shape, Double)]
    }

    /// Best GFLOPS over `rounds` rounds of `reps` products per shape, at `threads` OpenBLAS threads; per
    /// shape too. Buffers are allocated once and filled with small deterministic values.
    static func measure(threads: Int, rounds: Int = 3, reps: Int = 5) -> Result {
        var perShape: [(Shape, Double)] = []
        var bestCPU = 0.0
        BLAS.withThreads(threads) {
            for s in shapes {
                let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: s.m * s.k)
                let w = UnsafeMutableBufferPointer<Float>.allocate(capacity: s.n * s.k)
                let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: s.m * s.n)
                defer { a.deallocate(); w.deallocate(); c.deallocate() }
                for i in a.indices { a[i] = Float((i * 7919) % 1000) * 1e-3 - 0.5 }
                for i in w.indices { w[i] = Float((i * 104_729) % 1000) * 1e-3 - 0.5 }
                var best = 0.0
                for _ in 0..<rounds {
                    // one untimed product first, so threads are awake and caches are warm
                    product(s, a, w, c)
                    let t0 = ProcessClock.now()
                    let cpu0 = ProcessClock.cpuSeconds()
                    for _ in 0..<reps { product(s, a, w, c) }
                    let seconds = ProcessClock.seconds(since: t0) / Double(reps)
                    let cpu = (ProcessClock.cpuSeconds() - cpu0) / Double(reps)
                    best = max(best, s.flops / seconds / 1e9)
                    if cpu > 0 { bestCPU = max(bestCPU, s.flops / cpu / 1e9) }
                }
                perShape.append((s, best))
            }
        }
        return Result(best: perShape.map(\.1).max() ?? 0, bestPerCPUSecond: bestCPU, perShape: perShape)
    }

    static func product(
        _ s: Shape, _ a: UnsafeMutableBufferPointer<Float>, _ w: UnsafeMutableBufferPointer<Float>, _ c: UnsafeMutableBufferPointer<Float>
    ) {
        BLAS.sgemm(
            transA: false, transB: true, m: s.m, n: s.n, k: s.k, alpha: 1, a: a.baseAddress!, lda: s.k, b: w.baseAddress!, ldb: s.k,
            beta: 0, c: c.baseAddress!, ldc: s.n)
    }
}
