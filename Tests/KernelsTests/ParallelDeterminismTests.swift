// Parallel loops hand work to workers by a fixed rule that depends only on (count, threads), never on
// timing, so anything a worker accumulates is added in the same order every run: results are
// bit-identical, which exact resume needs.

import Foundation
import Kernels
import Testing

@Test(arguments: [(17, 4), (64, 2), (5, 3)])
func forEachAssignsIndicesByAFixedRule(count: Int, threads: Int) {
    let lock = NSLock()
    var owner = [Int](repeating: -1, count: count)
    Parallel.forEach(count: count, threads: threads) { i, worker in
        // Uneven work: early indices are slow, so a work-stealing scheduler would reassign later ones.
        if i < threads { usleep(2000) }
        lock.lock()
        owner[i] = worker
        lock.unlock()
    }
    let workers = min(threads, count)
    #expect(owner == (0..<count).map { $0 % workers })
}

@Test func forChunksCoversTheRangeOnceWithAFixedOwnerPerChunk() {
    let lock = NSLock()
    var seen: [(Range<Int>, Int)] = []
    for _ in 0..<2 {
        var run: [(Range<Int>, Int)] = []
        Parallel.forChunks(count: 1000, threads: 3, minChunk: 10) { r, worker in
            if r.lowerBound == 0 { usleep(2000) }
            lock.lock()
            run.append((r, worker))
            lock.unlock()
        }
        run.sort { $0.0.lowerBound < $1.0.lowerBound }
        #expect(run.map(\.0.count).reduce(0, +) == 1000)
        #expect(zip(run, run.dropFirst()).allSatisfy { $0.0.upperBound == $1.0.lowerBound })
        if !seen.isEmpty { #expect(seen.map(\.1) == run.map(\.1), "same owners on every call") }
        seen = run
    }
}
