// bf16 matrix products through oneDNN's matmul primitive (bf16 inputs, f32 accumulation, f32 output), for
// the frozen-weight products under `--compute-dtype bf16`. This is the only file that imports CDNNL.
// Threads: Debian's oneDNN runs on OpenMP. Every primitive here is created and run with one OpenMP thread
// on the calling thread, and the product is split over our own workers (Parallel), as parallelSgemm does
// with OpenBLAS: no OpenMP team is ever started, so no second pool spins beside ours.
// M rows, N columns, K reduction.

import CDNNL
import Foundation

/// The element type the frozen-weight products run in.
public enum ComputeDType: String, Sendable, CaseIterable {
    /// f32 throughout (OpenBLAS sgemm): the default, exact as before.
    case f32
    /// Frozen-weight products in bf16 through oneDNN, f32 accumulation; everything else f32.
    case bf16
}

public enum BF16Matmul {
    // MARK: - Support

    /// Whether this CPU runs bf16 products natively, and if not, why.
    public enum Support: Equatable, Sendable {
        case available(isa: String)
        case missing(reason: String)
    }

    /// Setting this environment variable to 1 makes `support` report the CPU feature missing (tests of the
    /// fallback on machines that have it).
    public static let simulateMissingVariable = "LEANDPO_BF16_UNSUPPORTED"

    /// What oneDNN can dispatch to on this CPU: bf16 products need AVX-512 BF16 (or AMX). Without it oneDNN
    /// would emulate bf16 with f32 instructions, slower than sgemm, so callers fall back to sgemm.
    public static func support(environment: [String: String] = ProcessInfo.processInfo.environment) -> Support {
        if environment[simulateMissingVariable] == "1" {
            return .missing(reason: "\(simulateMissingVariable)=1 simulates a CPU without AVX-512 BF16")
        }
        let isa = dnnl_get_effective_cpu_isa()
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        let amx = dnnl_cpu_isa_avx512_core_amx.rawValue
        if isa.rawValue & amx == amx { return .available(isa: "AMX") }
        if isa.rawValue & bf16 == bf16 { return .available(isa: "AVX-512 BF16") }
        return .missing(reason: "this CPU has neither AVX-512 BF16 nor AMX")
    }

    // MARK: - Products

    /// C (=, or += with `accumulate`) A · op(B): A (m, k) bf16 with row stride lda; B bf16 stored (n, k)
    /// with `transB` (a weight in Hugging Face layout), else (k, n), row stride ldb; C (m, n) f32, row
    /// stride ldc. The rows of C are split over `threads` of our workers; each block is one oneDNN
    /// primitive run on the worker's thread.
    public static func gemm(
        transB: Bool, m: Int, n: Int, k: Int,
        a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int,
        accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = Parallel.threads
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0)
        if m == 0 || n == 0 { return }
        precondition(lda >= max(1, k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n))
        if k == 0 {
            if !accumulate { for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) } }
            return
        }
        let flops = 2 * m * n * k
        let workers = min(threads, max(1, flops / BLAS.parallelMinFlops), (m + 15) / 16)
        if workers <= 1 {
            run(Shape(m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transB: transB, accumulate: accumulate), a: a, b: b, c: c)
            return
        }
        // One block of rows per worker, in multiples of 16 rows: two shapes per product at most, so the
        // cache holds a few primitives per layer shape and batch size.
        let per = (m + 16 * workers - 1) / (16 * workers) * 16
        let count = (m + per - 1) / per
        Parallel.forEach(count: count, threads: workers) { i, _ in
            let lo = i * per, len = min(per, m - lo)
            run(
                Shape(m: len, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transB: transB, accumulate: accumulate), a: a + lo * lda, b: b,
                c: c + lo * ldc)
        }
    }

    /// Primitives created since the process started (a test checks that a shape's second product makes none).
    public static var primitivesMade: Int { cache.withLock { $0.made } }

    // MARK: - Primitives

    struct Shape: Hashable {
        var m, n, k, lda, ldb, ldc: Int
        var transB, accumulate: Bool
    }

    /// A primitive and the scratch it asks for. Executing one primitive from several threads at once is
    /// allowed; each execution brings its own stream and scratchpad (a Context).
    struct Primitive: @unchecked Sendable {
        let handle: dnnl_primitive_t
        var src, weights, dst: dnnl_memory_desc_t
        var scratchpad: dnnl_memory_desc_t
        let scratchBytes: Int
    }

    /// One thread's stream and scratchpad, checked out of the pool for one execution.
    final class Context: @unchecked Sendable {
        let stream: dnnl_stream_t
        var scratch: UnsafeMutableRawPointer?
        var scratchBytes = 0

        init(engine: dnnl_engine_t) {
            var s: dnnl_stream_t?
            check(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
            stream = s!
        }

        func scratch(_ bytes: Int) -> UnsafeMutableRawPointer? {
            if bytes == 0 { return nil }
            if bytes > scratchBytes {
                scratch?.deallocate()
                scratch = .allocate(byteCount: bytes, alignment: 64)
                scratchBytes = bytes
            }
            return scratch
        }
    }

    /// The engine, the primitives by shape and the idle contexts, behind one lock.
    final class Cache: @unchecked Sendable {
        private let lock = NSLock()
        private var state = State()

        struct State {
            var engine: dnnl_engine_t?
            var primitives: [Shape: Primitive] = [:]
            var contexts: [Context] = []
            var made = 0
        }

        func withLock<R>(_ body: (inout State) -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return body(&state)
        }
    }

    static let cache = Cache()

    /// Limits OpenMP to one thread on the calling thread (libgomp keeps this setting per thread), so the
    /// primitives made and run here never start an OpenMP team. libgomp is loaded with libdnnl.
    private static let setOMPThreads: (@convention(c) (Int32) -> Void)? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32) -> Void).self)
    }()

    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        guard status == dnnl_success else { preconditionFailure("oneDNN \(what()) failed with status \(status.rawValue)") }
    }

    private static func primitive(_ s: Shape, engine: dnnl_engine_t) -> Primitive {
        var src = dnnl_memory_desc_t(), weights = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        func desc(_ md: inout dnnl_memory_desc_t, _ rows: Int, _ cols: Int, _ rowStride: Int, _ colStride: Int, _ type: dnnl_data_type_t) {
            let dims = [dnnl_dim_t(rows), dnnl_dim_t(cols)], strides = [dnnl_dim_t(rowStride), dnnl_dim_t(colStride)]
            let status = dnnl_memory_desc_init_by_strides(&md, 2, dims, type, strides)
            check(status, "memory descriptor \(rows)×\(cols)")
        }
        desc(&src, s.m, s.k, s.lda, 1, dnnl_bf16)
        // B is (k, n); stored (n, k) with transB, i.e. element (i, j) at j·ldb + i.
        if s.transB { desc(&weights, s.k, s.n, 1, s.ldb, dnnl_bf16) } else { desc(&weights, s.k, s.n, s.ldb, 1, dnnl_bf16) }
        desc(&dst, s.m, s.n, s.ldc, 1, dnnl_f32)
        var op = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&op, &src, &weights, nil, &dst), "matmul descriptor")
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "attributes")
        defer { dnnl_primitive_attr_destroy(attr) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")
        if s.accumulate {
            var ops: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&ops), "post-ops")
            defer { dnnl_post_ops_destroy(ops) }
            check(dnnl_post_ops_append_sum(ops, 1), "sum post-op")
            check(dnnl_primitive_attr_set_post_ops(attr, ops), "post-ops")
        }
        var pd: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&pd, &op, attr, engine, nil), "matmul \(s)")
        defer { dnnl_primitive_desc_destroy(pd) }
        let scratchpad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
        var scratchCopy = scratchpad
        let bytes = dnnl_memory_desc_get_size(&scratchCopy)
        var p: dnnl_primitive_t?
        check(dnnl_primitive_create(&p, pd), "matmul primitive")
        return Primitive(handle: p!, src: src, weights: weights, dst: dst, scratchpad: scratchpad, scratchBytes: bytes)
    }

    /// Runs one product on the calling thread.
    static func run(_ s: Shape, a: UnsafePointer<UInt16>, b: UnsafePointer<UInt16>, c: UnsafeMutablePointer<Float>) {
        setOMPThreads?(1)
        let (p, context, engine) = cache.withLock { cache -> (Primitive, Context, dnnl_engine_t) in
            if cache.engine == nil {
                var e: dnnl_engine_t?
                check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create")
                cache.engine = e
            }
            let engine = cache.engine!
            let p: Primitive
            if let cached = cache.primitives[s] {
                p = cached
            } else {
                // Bounded: batch sizes vary from step to step; start over rather than grow without end.
                if cache.primitives.count >= 512 {
                    for old in cache.primitives.values { dnnl_primitive_destroy(old.handle) }
                    cache.primitives.removeAll()
                }
                p = primitive(s, engine: engine)
                cache.primitives[s] = p
                cache.made += 1
            }
            return (p, cache.contexts.popLast() ?? Context(engine: engine), engine)
        }
        defer { cache.withLock { $0.contexts.append(context) } }
        var p2 = p
        var memories: [dnnl_memory_t?] = [nil, nil, nil, nil]
        check(dnnl_memory_create(&memories[0], &p2.src, engine, UnsafeMutableRawPointer(mutating: a)), "src memory")
        check(dnnl_memory_create(&memories[1], &p2.weights, engine, UnsafeMutableRawPointer(mutating: b)), "weights memory")
        check(dnnl_memory_create(&memories[2], &p2.dst, engine, c), "dst memory")
        var count: Int32 = 3
        if p.scratchBytes > 0 {
            check(dnnl_memory_create(&memories[3], &p2.scratchpad, engine, context.scratch(p.scratchBytes)), "scratchpad memory")
            count = 4
        }
        defer { for m in memories where m != nil { dnnl_memory_destroy(m) } }
        // DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD
        var args = [
            dnnl_exec_arg_t(arg: 1, memory: memories[0]), dnnl_exec_arg_t(arg: 33, memory: memories[1]),
            dnnl_exec_arg_t(arg: 17, memory: memories[2]), dnnl_exec_arg_t(arg: 80, memory: memories[3]),
        ]
        check(dnnl_primitive_execute(p.handle, context.stream, count, &args), "matmul \(s)")
        check(dnnl_stream_wait(context.stream), "stream wait")
    }
}

// MARK: - Rounding to bf16

extension BF16Matmul {
    /// dst = bf16(src), round to nearest even (NaN stays NaN), in parallel for large counts.
    public static func round(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt16>, count: Int, threads: Int = Parallel.threads) {
        Parallel.forChunks(count: count, threads: threads, minChunk: 1 << 16) { range, _ in
            roundSerial(src + range.lowerBound, into: dst + range.lowerBound, count: range.count)
        }
    }

    /// The branch-free rounding loop (vectorizes): add 0x7FFF plus the kept lowest bit, keep the top half.
    @inline(__always)
    static func roundSerial(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<UInt16>, count: Int) {
        src.withMemoryRebound(to: UInt32.self, capacity: count) { s in
            for i in 0..<count {
                let x = s[i]
                let rounded = (x &+ 0x7FFF &+ ((x >> 16) & 1)) >> 16
                let nan = (x & 0x7FFF_FFFF) > 0x7F80_0000
                dst[i] = UInt16(truncatingIfNeeded: nan ? (x >> 16) | 0x40 : rounded)
            }
        }
    }

    /// Rounds rows of a (rows, cols) f32 matrix with row stride `ld` into a dense (rows, cols) bf16 one.
    public static func round(
        _ src: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, into dst: UnsafeMutablePointer<UInt16>, threads: Int = Parallel.threads
    ) {
        if ld == cols { return round(src, into: dst, count: rows * cols, threads: threads) }
        Parallel.forChunks(count: rows, threads: threads, minChunk: max(1, (1 << 16) / max(1, cols))) { range, _ in
            for r in range { roundSerial(src + r * ld, into: dst + r * cols, count: cols) }
        }
    }
}
