// Byte-level BPE on one pre-tokenized word: bytes become alphabet tokens, then the lowest-ranked
// adjacent pair is merged until none is left (tokenizers' Word::merge_all, with the same tie-break).
// The merge loop is shared with SentencePieceModel.

struct BPEModel: Sendable {
    /// Token id of each byte's alphabet character, or -1 when the vocab has none; tokenizers' BPE with
    /// no unk token drops such bytes (SmolLM2 has no token for 0x1D, 0xC0, 0xF5...0xFF and a few more).
    let byteToken: [Int32]
    /// (left << 32 | right) -> (rank << 32 | merged id). A later duplicate merge overwrites an earlier one,
    /// as in tokenizers' HashMap.
    let merges: PairTable

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of the word `p[start..<end]` to `out`.
    func encodeWord(
        _ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ scratch: inout BPEScratch, into out: inout [Int32]
    ) {
        // Symbols: ids[i] is -1 once merged into its left neighbour; next[i] links the live ones.
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        for i in start..<end {
            let id = byteToken[Int(p[i])]
            if id < 0 { continue }
            scratch.prev.append(Int32(scratch.ids.count) - 1)
            scratch.ids.append(id)
            scratch.next.append(Int32(scratch.ids.count))
        }
        Self.mergeSymbols(&scratch, merges, into: &out)
    }

    /// Merges the symbols in `scratch.ids` (with `next`/`prev` links already set up) by rank and appends
    /// the result to `out`; shared with the SentencePiece model, whose symbols are characters.
    static func mergeSymbols(_ scratch: inout BPEScratch, _ merges: PairTable, into out: inout [Int32]) {
        let n = scratch.ids.count
        if n == 0 { return }
        if n > 1 {
            // At most n - 1 initial pairs plus 2 per merge (n - 1 merges) are ever queued.
            if scratch.heap.count < 3 * n { scratch.heap = [UInt64](repeating: 0, count: 3 * n) }
            scratch.ids.withUnsafeMutableBufferPointer { ids in
                scratch.next.withUnsafeMutableBufferPointer { next in
                    scratch.prev.withUnsafeMutableBufferPointer { prev in
                        scratch.heap.withUnsafeMutableBufferPointer { heap in
                            mergeAll(
                                ids.baseAddress!, next.baseAddress!, prev.baseAddress!, n, MinHeap(heap.baseAddress!),
                                merges)
                        }
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
    private static func mergeAll(
        _ ids: UnsafeMutablePointer<Int32>, _ next: UnsafeMutablePointer<Int32>, _ prev: UnsafeMutablePointer<Int32>,
        _ n: Int, _ heap: MinHeap, _ merges: PairTable
    ) {
        var heap = heap
        for i in 0..<n - 1 {
            if let m = merges[pairKey(ids[i], ids[i + 1])] { heap.push((m >> 32) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            let right = Int(next[pos])
            if ids[pos] < 0 || right >= n { continue }
            guard let m = merges[pairKey(ids[pos], ids[right])], m >> 32 == rank else { continue }
            ids[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            ids[right] = -1
            let after = Int(next[right])
            next[pos] = Int32(after)
            if after < n { prev[after] = Int32(pos) }
            let before = Int(prev[pos])
            if before >= 0, let m = merges[Self.pairKey(ids[before], ids[pos])] {
                heap.push((m >> 32) << 32 | UInt64(before))
            }
            if after < n, let m = merges[Self.pairKey(ids[pos], ids[after])] {
                heap.push((m >> 32) << 32 | UInt64(pos))
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

// MARK: - Binary min-heap over a caller's buffer (sized for every push)

struct MinHeap {
    let storage: UnsafeMutablePointer<UInt64>
    var count = 0

    init(_ storage: UnsafeMutablePointer<UInt64>) { self.storage = storage }

    @inline(__always)
    mutating func push(_ value: UInt64) {
        var i = count
        count += 1
        while i > 0 {
            let parent = (i - 1) / 2
            if storage[parent] <= value { break }
            storage[i] = storage[parent]
            i = parent
        }
        storage[i] = value
    }

    @inline(__always)
    mutating func pop() -> UInt64? {
        if count == 0 { return nil }
        let top = storage[0]
        count -= 1
        let last = storage[count]
        var i = 0
        while true {
            let left = 2 * i + 1
            if left >= count { break }
            var child = left
            if left + 1 < count && storage[left + 1] < storage[left] { child = left + 1 }
            if storage[child] >= last { break }
            storage[i] = storage[child]
            i = child
        }
        storage[i] = last
        return top
    }
}
