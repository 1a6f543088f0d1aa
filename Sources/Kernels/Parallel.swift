// Parallel loops over Dispatch's concurrentPerform: a fixed number of workers each take a fixed,
// interleaved share of the chunks, and each body call learns its worker index so it can use its own
// slice of a scratch buffer. The share depends only on (count, threads), never on timing, so per-worker
// partial sums — and therefore every result — are bit-identical from run to run (exact resume needs it).

import Dispatch
import Foundation

public enum Parallel {
    // MARK: - Thread count

    nonisolated(unsafe) private static var _threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Workers used by the kernels' own loops (default: the active processor count). Set it once at start.
    public static var threads: Int {
        get { _threads }
        set {
            precondition(newValue >= 1)
            _threads = newValue
        }
    }

    // MARK: - Loops

    /// Calls `body(range, worker)` over disjoint chunks covering 0..<count, on up to `threads` workers
    /// (worker in 0..<threads). Worker w runs chunks w, w+W, w+2W, … in order: interleaving balances
    /// work that grows along the range (causal attention) while keeping the assignment deterministic.
    /// `minChunk` keeps tiny ranges from being split (the loop runs inline when one chunk covers it all).
    public static func forChunks(
        count: Int, threads: Int = Parallel.threads, minChunk: Int = 1,
        body: (Range<Int>, _ worker: Int) -> Void
    ) {
        precondition(count >= 0 && threads >= 1 && minChunk >= 1)
        if count == 0 { return }
        let workers = min(threads, (count + minChunk - 1) / minChunk)
        if workers <= 1 {
            body(0..<count, 0)
            return
        }
        // About four chunks per worker: enough to balance, few enough to keep overhead negligible.
        let chunk = max(minChunk, (count + 4 * workers - 1) / (4 * workers))
        let chunks = (count + chunk - 1) / chunk
        withoutActuallyEscaping(body) { body in
            let body = Unchecked(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for c in stride(from: worker, to: chunks, by: workers) {
                    let start = c * chunk
                    body.value(start..<min(count, start + chunk), worker)
                }
            }
        }
    }

    /// Calls `body(index, worker)` for every index in 0..<count; worker w runs indices w, w+W, … (use it
    /// when each index is a large task, e.g. one attention head of one sequence).
    public static func forEach(
        count: Int, threads: Int = Parallel.threads, body: (_ index: Int, _ worker: Int) -> Void
    ) {
        precondition(count >= 0 && threads >= 1)
        if count == 0 { return }
        let workers = min(threads, count)
        if workers == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let body = Unchecked(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for i in stride(from: worker, to: count, by: workers) { body.value(i, worker) }
            }
        }
    }
}

// MARK: - Helpers

/// Carries a closure into Dispatch's @Sendable worker closure. Safe here because the caller waits for
/// every worker, and each body call touches only the disjoint work it was handed.
private struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
