// Data-parallel training through a ProcessGroup made of threads: N ranks with grad-accum k each equal
// one process with grad-accum N·k bit for bit (losses, logs, adapter and AdamW moments), and resuming
// the N-rank run's checkpoint in one process continues exactly. MPI itself is tested by tools/test-mpi.

import Foundation
import SeededRandom
import Model
import TestSupport
import Testing
import Training

/// Ranks as threads of one process: a mailbox per (sender, receiver), and a shared board for gathers.
final class ThreadGroup: ProcessGroup, @unchecked Sendable {
    final class Shared: @unchecked Sendable {
        let size: Int
        let lock = NSCondition()
        var mail: [[[[Float]]]]  // [from][to] queue of messages
        var board: [[UInt8]?]
        var snapshot: [[UInt8]] = []
        var generation = 0
        var arrived = 0
        var readers = 0
        init(size: Int) {
            self.size = size
            mail = Array(repeating: Array(repeating: [], count: size), count: size)
            board = Array(repeating: nil, count: size)
        }
    }
    let shared: Shared
    let rank: Int
    var size: Int { shared.size }

    init(_ shared: Shared, rank: Int) {
        self.shared = shared
        self.rank = rank
    }

    func send(_ values: UnsafeBufferPointer<Float>, to r: Int) throws {
        shared.lock.lock()
        shared.mail[rank][r].append(Array(values))
        shared.lock.broadcast()
        shared.lock.unlock()
    }

    func receive(_ values: UnsafeMutableBufferPointer<Float>, from r: Int) throws {
        shared.lock.lock()
        while shared.mail[r][rank].isEmpty { shared.lock.wait() }
        let m = shared.mail[r][rank].removeFirst()
        shared.lock.unlock()
        precondition(m.count == values.count)
        _ = values.update(fromContentsOf: m)
    }

    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws {
        if rank == root {
            for r in 0..<size where r != root { try send(UnsafeBufferPointer(values), to: r) }
        } else {
            try receive(values, from: root)
        }
    }

    /// A two-phase barrier: write your bytes, wait for all, read the snapshot; the next gather waits until
    /// every rank has read this one.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        while shared.readers > 0 { shared.lock.wait() }
        shared.board[rank] = bytes
        shared.arrived += 1
        let gen = shared.generation
        if shared.arrived == size {
            shared.arrived = 0
            shared.snapshot = shared.board.map { $0! }
            shared.readers = size
            shared.generation += 1
            shared.lock.broadcast()
        } else {
            while shared.generation == gen { shared.lock.wait() }
        }
        let all = shared.snapshot
        shared.readers -= 1
        if shared.readers == 0 {
            shared.board = Array(repeating: nil, count: size)
            shared.lock.broadcast()
        }
        return all
    }
}

extension TrainerTests {
    @Suite struct DataParallelRuns {
        /// Runs `ranks` trainers on threads, each with its own model; returns rank 0's record.
        static func run(_ f: TrainerFixture, _ a: TrainArguments, ranks: Int) throws -> RunRecord {
            final class Results: @unchecked Sendable {
                let lock = NSLock()
                var records: [Int: RunRecord] = [:]
                var errors: [Error] = []
            }
            let shared = ThreadGroup.Shared(size: ranks)
            let results = Results()
            let done = DispatchGroup()
            let modelPath = f.modelPath
            // One thread per rank (a thread pool of two could not hold four ranks that wait on each other).
            for r in 0..<ranks {
                done.enter()
                let thread = Thread {
                    defer { done.leave() }
                    do {
                        let model = try LlamaModel(path: modelPath, threads: 1)
                        let t = try Trainer(arguments: a, model: model, context: ByteToy.context, group: ThreadGroup(shared, rank: r))
                        let rec = try t.record()
                        results.lock.withLock { results.records[r] = rec }
                    } catch {
                        results.lock.withLock { results.errors.append(error) }
                    }
                }
                thread.stackSize = 8 << 20
                thread.start()
            }
            done.wait()
            if let e = results.errors.first { throw e }
            return try #require(results.records[0])
        }

        /// The segmented chain gives exactly the sequential sum, whatever the segment size.
        @Test(arguments: [1, 7, 1000])
        func orderedSumEqualsTheSequentialSum(segment: Int) throws {
            let ranks = 3, perRank = 2, n = 100
            var rng = SplitMix64(seed: 5)
            let grads = (0..<(ranks * perRank)).map { _ in (0..<n).map { _ in Float(Double(rng.next() % 2_000_001) / 1e3 - 1000) } }
            var expected = [Float](repeating: 0, count: n)
            for g in grads { for i in 0..<n { expected[i] += g[i] } }
            let shared = ThreadGroup.Shared(size: ranks)
            final class Box: @unchecked Sendable { var out: [[Float]] = []; let lock = NSLock() }
            let box = Box()
            let done = DispatchGroup()
            for r in 0..<ranks {
                done.enter()
                Thread {
                    defer { done.leave() }
                    var out = [Float](repeating: .nan, count: n)
                    let mine = Array(grads[(r * perRank)..<((r + 1) * perRank)])
                    try? withUnsafeBuffers(mine) { views in
                        try out.withUnsafeMutableBufferPointer {
                            try DataParallel.orderedSum(views, into: $0, group: ThreadGroup(shared, rank: r), segment: segment)
                        }
                    }
                    box.lock.withLock { box.out.append(out) }
                }.start()
            }
            done.wait()
            #expect(box.out.count == ranks)
            for out in box.out { #expect(out.map(\.bitPattern) == expected.map(\.bitPattern)) }
        }

        @Test(arguments: [(ranks: 2, perRank: 1), (ranks: 2, perRank: 2), (ranks: 4, perRank: 1)])
        func ranksEqualOneProcessBitForBit(ranks: Int, perRank: Int) throws {
            let f = try TrainerFixture(pairs: 32)
            var one = f.arguments(output: "one")
            one.gradAccum = ranks * perRank
            let single = try f.trainer(one).record()

            var many = one
            many.output = f.directory + "/many"
            let parallel = try Self.run(f, many, ranks: ranks)
            #expect(parallel.losses.map(\.bitPattern) == single.losses.map(\.bitPattern))
            #expect(parallel.steps.map(\.gradNorm.bitPattern) == single.steps.map(\.gradNorm.bitPattern))
            #expect(parallel.logs == single.logs)
            let x = try TrainingCheckpoint.read(path: one.output + "/checkpoint-4")
            let y = try TrainingCheckpoint.read(path: many.output + "/checkpoint-4")
            #expect(x.parameters.map(\.bitPattern) == y.parameters.map(\.bitPattern))
            #expect(x.optimizerState.v.map(\.bitPattern) == y.optimizerState.v.map(\.bitPattern))
            #expect(x.parameters.contains { $0 != 0 })
        }

        /// A checkpoint saved by 2 ranks resumes in one process with the same global grad-accum, exactly.
        @Test func twoRanksResumeInOneProcess() throws {
            let f = try TrainerFixture(pairs: 32)
            var whole = f.arguments(output: "whole")
            whole.gradAccum = 2
            try f.trainer(whole).record()

            var parts = whole
            parts.output = f.directory + "/parts"
            parts.maxSteps = 2
            _ = try Self.run(f, parts, ranks: 2)
            parts.maxSteps = whole.maxSteps
            let resumed = try f.trainer(parts, resume: try TrainingCheckpoint.read(path: parts.output + "/checkpoint-2"))
            try resumed.record()
            let x = try TrainingCheckpoint.read(path: whole.output + "/checkpoint-4")
            let y = try TrainingCheckpoint.read(path: parts.output + "/checkpoint-4")
            #expect(x.parameters.map(\.bitPattern) == y.parameters.map(\.bitPattern))
        }
    }
}
