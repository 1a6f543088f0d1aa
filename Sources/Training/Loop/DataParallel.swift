// Data-parallel training over several processes, without depending on how they talk: a ProcessGroup gives
// point-to-point and collective primitives (MPI in the DataParallel module, threads in tests), and this
// file builds the exact reductions on top. N ranks with grad-accum k each give the same bits as one
// process with grad-accum N·k: every micro-batch gradient is added to the running sum in global
// micro-batch order, passed from rank to rank, whatever the network does.

import Foundation
import Kernels

/// The processes of one run. Every rank calls every collective in the same order.
public protocol ProcessGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    func send(_ values: UnsafeBufferPointer<Float>, to rank: Int) throws
    func receive(_ values: UnsafeMutableBufferPointer<Float>, from rank: Int) throws
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws
    /// Every rank's bytes, in rank order, on every rank.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]
}

public struct DataParallelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum DataParallel {
    // MARK: - Gradients

    /// The sum, in global micro-batch order, of every rank's micro-batch gradients (`mine`: this rank's,
    /// oldest first; rank r holds the micro-batches after rank r−1's). Rank 0 starts from zero and adds
    /// its own, then each rank receives the running sum, adds its own and passes it on; the last rank
    /// broadcasts the total. `out` receives the total on every rank. The vector travels in segments, so
    /// the ranks of the chain work on different segments at once (a pipeline): the chain costs about one
    /// vector's transfer plus one segment per rank, not one vector per rank.
    public static func orderedSum(
        _ mine: [UnsafeBufferPointer<Float>], into out: UnsafeMutableBufferPointer<Float>, group: ProcessGroup?, segment: Int = 1 << 20
    ) throws {
        let rank = group?.rank ?? 0, size = group?.size ?? 1
        var start = 0
        repeat {
            let range = start..<min(out.count, start + segment)
            let part = UnsafeMutableBufferPointer(rebasing: out[range])
            if rank == 0 {
                part.update(repeating: 0)
            } else {
                try group!.receive(part, from: rank - 1)
            }
            for g in mine { add(UnsafeBufferPointer(rebasing: g[range]), into: part) }
            if let group, rank < size - 1 { try group.send(UnsafeBufferPointer(part), to: rank + 1) }
            start = range.upperBound
        } while start < out.count
        guard let group, size > 1 else { return }
        try group.broadcast(out, from: size - 1)
    }

    /// out[i] += g[i], one correctly rounded add per element (the same bits in any order of elements).
    static func add(_ g: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(g.count == out.count)
        let n = out.count
        Parallel.forChunks(count: n, minChunk: 1 << 16) { range, _ in
            for i in range { out[i] += g[i] }
        }
    }

    // MARK: - Small values

    /// Every rank's metric rows for one step, concatenated in rank order (so in global micro-batch order).
    public static func gatherRows(_ rows: [[String: Double]], group: ProcessGroup) throws -> [[String: Double]] {
        var out: [[String: Double]] = []
        for part in try group.allGather(encode(rows)) { out += try decode(part) }
        return out
    }

    /// True on every rank when it is true on any rank (a stop request must stop all of them at one step).
    public static func any(_ flag: Bool, group: ProcessGroup) throws -> Bool {
        try group.allGather([flag ? 1 : 0]).contains { $0.first == 1 }
    }

    /// Refuses to start unless every rank has the same `value` for `what`; names the first rank that differs.
    public static func agree(_ value: String, what: String, group: ProcessGroup) throws {
        let all = try group.allGather(Array(value.utf8)).map { String(decoding: $0, as: UTF8.self) }
        if let (r, v) = all.enumerated().first(where: { $0.element != all[0] }) {
            throw DataParallelError("rank \(r) has a different \(what) than rank 0: \(v.prefix(120)) vs \(all[0].prefix(120))")
        }
    }

    // Rows travel as (count, then per row: key count, keys and values) in a flat byte layout.
    static func encode(_ rows: [[String: Double]]) -> [UInt8] {
        var out: [UInt8] = []
        func int(_ i: Int) { withUnsafeBytes(of: UInt64(i).littleEndian) { out += $0 } }
        int(rows.count)
        for row in rows {
            int(row.count)
            for key in row.keys.sorted() {
                let k = Array(key.utf8)
                int(k.count)
                out += k
                withUnsafeBytes(of: row[key]!.bitPattern.littleEndian) { out += $0 }
            }
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws -> [[String: Double]] {
        var i = 0
        func u64() throws -> UInt64 {
            guard i + 8 <= bytes.count else { throw DataParallelError("a metrics message from another rank is truncated") }
            defer { i += 8 }
            return bytes[i..<i + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        func int() throws -> Int {
            let v = try u64()
            guard v < 1 << 32 else { throw DataParallelError("a metrics message from another rank is malformed") }
            return Int(v)
        }
        var rows: [[String: Double]] = []
        for _ in 0..<(try int()) {
            var row: [String: Double] = [:]
            for _ in 0..<(try int()) {
                let n = try int()
                guard i + n <= bytes.count else { throw DataParallelError("a metrics message from another rank is truncated") }
                let key = String(decoding: bytes[i..<i + n], as: UTF8.self)
                i += n
                row[key] = Double(bitPattern: try u64())
            }
            rows.append(row)
        }
        return rows
    }
}

/// Unsafe views of `arrays` for the duration of `body`.
public func withUnsafeBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func nest(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try nest(i + 1, acc + [$0]) }
    }
    return try nest(0, [])
}
