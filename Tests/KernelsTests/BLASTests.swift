// BLAS wrapper: the product split over our own workers equals the one-call product for every transpose
// combination, split by rows and by columns, and the measured throughput this machine reaches
// (printed, never asserted).

import Foundation
import Kernels
import Testing

@Suite struct BLASTests {
    @Test func gflopsReport() {
        let m = 512, n = 1536, k = 576
        let a = randomFloats(m * k, seed: 1), b = randomFloats(n * k, seed: 2)
        var c = [Float](repeating: 0, count: m * n)
        let saved = BLAS.threads
        defer { BLAS.setThreads(saved) }
        print("OpenBLAS:", BLAS.configuration, "kernels:", BLAS.coreName)
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            let reps = 20
            var best = Double.infinity
            for _ in 0..<reps {
                let t0 = DispatchTime.now().uptimeNanoseconds
                BLAS.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: &c, ldc: n)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
            }
            print("sgemm \(m)x\(k)x\(n) threads=\(threads): \(String(format: "%.1f", 2.0 * Double(m * n * k) / best)) GFLOPS")
        }
        // Two single-threaded products at once from our own workers (how the attention loop uses BLAS).
        BLAS.setThreads(1)
        var c2 = [Float](repeating: 0, count: m * n)
        var best = Double.infinity
        for _ in 0..<10 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            c.withUnsafeMutableBufferPointer { c0 in
                c2.withUnsafeMutableBufferPointer { c1 in
                    let outs = [c0.baseAddress!, c1.baseAddress!]
                    Parallel.forEach(count: 2, threads: 2) { i, _ in
                        BLAS.sgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: outs[i], ldc: n)
                    }
                }
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0))
        }
        print("2 concurrent single-thread sgemm: \(String(format: "%.1f", 4.0 * Double(m * n * k) / best)) GFLOPS total")
        #expect(c == c2)
    }

    /// parallelSgemm against one sgemm call: rows of C split (m ≥ n) or columns (m < n), ragged last
    /// blocks, leading dimensions wider than the matrices, beta 0 and 1. Each element of C is one
    /// single-threaded dot product either way: atol 1e-5 for O(1) values summed over k ≤ 400. All but
    /// the last shape are above parallelMinFlops, so they really split.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func parallelEqualsOneCall(transA: Bool, transB: Bool) {
        for (m, n, k) in [(301, 37, 300), (19, 1500, 200), (1, 20_000, 129), (3000, 1, 400), (64, 64, 1)] {
            let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
            let a = randomFloats((transA ? k : m) * lda, seed: 11), b = randomFloats((transB ? n : k) * ldb, seed: 12)
            let c0 = randomFloats(m * ldc, seed: 13)
            for beta: Float in [0, 1] {
                var one = c0, split = c0
                BLAS.sgemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &one, ldc: ldc)
                for threads in [2, 3] {
                    split = c0
                    BLAS.parallelSgemm(
                        transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &split,
                        ldc: ldc, threads: threads)
                    expectClose(
                        split, one.doubles, atol: 1e-5, rtol: 1e-6, "\(m)x\(n)x\(k) trans \(transA)/\(transB) beta \(beta), \(threads) workers")
                }
            }
        }
    }

    /// One-row products go through sgemv (no packing): against a Double reference, B stored either way,
    /// alpha ≠ 1, beta 0 and 1, a leading dimension wider than B. atol 1e-5 for O(1) values over k = 300.
    @Test(arguments: [false, true])
    func oneRowProductMatchesReference(transB: Bool) {
        let n = 77, k = 300, ldb = (transB ? k : n) + 3
        let a = randomFloats(k, seed: 21), b = randomFloats((transB ? n : k) * ldb, seed: 22), c0 = randomFloats(n, seed: 23)
        for beta: Float in [0, 1] {
            var c = c0
            BLAS.sgemm(transA: false, transB: transB, m: 1, n: n, k: k, alpha: 0.5, a: a, lda: k, b: b, ldb: ldb, beta: beta, c: &c, ldc: n)
            let ref = (0..<n).map { j in
                0.5 * (0..<k).reduce(0.0) { $0 + Double(a[$1]) * Double(transB ? b[j * ldb + $1] : b[$1 * ldb + j]) } + Double(beta * c0[j])
            }
            expectClose(c, ref, atol: 1e-5, rtol: 1e-5, "m = 1, transB \(transB), beta \(beta)")
        }
    }
}
