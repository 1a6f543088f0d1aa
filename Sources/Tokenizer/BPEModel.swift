// Byte-level BPE on one pre-tokenized word: bytes become alphabet tokens, then the lowest-ranked
// adjacent pair is merged until none is left (tokenizers' Word::merge_all, with the same tie-break).

import Foundation

struct BPEModel: Sendable {
    /// Token id of each byte's alphabet character, or -1 when the vocab has none; tokenizers' BPE with
    /// no unk token drops such bytes (SmolLM2 has no token for 0x1D, 0xC0, 0xF5...0xFF and a few more).
    let byteToken: [Int32]
    /// (left << 32 | right) -> (rank << 32 | merged id). A later duplicate merge overwrites an earlier one,
    /// as in tokenizers' HashMap.
    let merges: [UInt64: UInt64]

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of the word `p[start..<end]` to `out`.
    func encodeWord(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ scratch: inout BPEScratch, into out: inout [Int32]) {
        // Symbols: ids[i] is -1 once merged into its left neighbour; next[i] links the live ones.
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        scratch.heap.removeAll(keepingCapacity: true)
        for i in start..<end {
            let id = byteToken[Int(p[i])]
            if id < 0 { continue }
            scratch.prev.append(Int32(scratch.ids.count) - 1)
            scratch.ids.append(id)
            scratch.next.append(Int32(scratch.ids.count))
        }
        let n = scratch.ids.count
        if n == 0 { return }
        if n > 1 {
            scratch.ids.withUnsafeMutableBufferPointer { ids in
                scratch.next.withUnsafeMutableBufferPointer { next in
                    scratch.prev.withUnsafeMutableBufferPointer { prev in
                        mergeAll(ids, next, prev, &scratch.heap)
                    }
                }
            }
        }
        var i = 0
        while i < n {
            out.append(scratch.ids[i])
            i = Int(scratch.next[i])
        }
    }

    /// The merge loop: a min-heap of (rank << 32 | position); stale entries are skipped when popped.
    private func mergeAll(
        _ ids: UnsafeMutableBufferPointer<Int32>, _ next: UnsafeMutableBufferPointer<Int32>,
        _ prev: UnsafeMutableBufferPointer<Int32>, _ heap: inout [UInt64]
    ) {
        let n = Int32(ids.count)
        for i in 0..<ids.count - 1 {
            if let m = merges[Self.pairKey(ids[i], ids[i + 1])] {
                heapPush(&heap, (m >> 32) << 32 | UInt64(i))
            }
        }
        while let top = heapPop(&heap) {
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            let right = Int(next[pos])
            if ids[pos] < 0 || right >= n { continue }
            guard let m = merges[Self.pairKey(ids[pos], ids[right])], m >> 32 == rank else { continue }
            ids[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            ids[right] = -1
            let after = next[right]
            next[pos] = after
            if after < n { prev[Int(after)] = Int32(pos) }
            let before = prev[pos]
            if before >= 0, let m = merges[Self.pairKey(ids[Int(before)], ids[pos])] {
                heapPush(&heap, (m >> 32) << 32 | UInt64(before))
            }
            if after < n, let m = merges[Self.pairKey(ids[pos], ids[Int(after)])] {
                heapPush(&heap, (m >> 32) << 32 | UInt64(pos))
            }
        }
    }
}

/// Buffers reused across the words of one encode call.
struct BPEScratch {
    var ids: [Int32] = []
    var next: [Int32] = []
    var prev: [Int32] = []
    var heap: [UInt64] = []
}

// MARK: - Binary min-heap on a plain array

@inline(__always)
func heapPush(_ heap: inout [UInt64], _ value: UInt64) {
    heap.append(value)
    var i = heap.count - 1
    while i > 0 {
        let parent = (i - 1) / 2
        if heap[parent] <= value { break }
        heap[i] = heap[parent]
        i = parent
    }
    heap[i] = value
}

@inline(__always)
func heapPop(_ heap: inout [UInt64]) -> UInt64? {
    guard let last = heap.popLast() else { return nil }
    if heap.isEmpty { return last }
    let top = heap[0]
    let count = heap.count
    var i = 0
    while true {
        let left = 2 * i + 1
        if left >= count { break }
        var child = left
        if left + 1 < count && heap[left + 1] < heap[left] { child = left + 1 }
        if heap[child] >= last { break }
        heap[i] = heap[child]
        i = child
    }
    heap[i] = last
    return top
}

// MARK: - Word cache

/// Ids of recently seen words, shared by all callers of one tokenizer. Cleared when full.
final class WordCache: @unchecked Sendable {
    // @unchecked: every access to `words` holds `lock`.
    private let lock = NSLock()
    private var words: [ByteString: [Int32]] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ word: ByteString) -> [Int32]? {
        lock.lock()
        defer { lock.unlock() }
        return words[word]
    }

    func set(_ word: ByteString, _ ids: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if words.count >= capacity { words.removeAll(keepingCapacity: true) }
        words[word] = ids
    }
}
