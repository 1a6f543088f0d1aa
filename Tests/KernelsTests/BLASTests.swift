// BLAS wrapper: correctness of every transpose combination against the naive reference, and the
// measured throughput this machine reaches (printed, never asserted).

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
}
