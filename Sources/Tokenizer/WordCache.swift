// The ids of recently seen words, keyed by their exact bytes, shared by all callers of one tokenizer
// behind a lock. An open-addressing table over flat byte and id arenas: no per-word allocation.

import Foundation

final class WordCache: @unchecked Sendable {
    // @unchecked: every stored var is read and written only while `lock` is held.
    private let lock = NSLock()
    /// Entry index + 1 per slot, 0 for empty; slots.count is a power of two, at most half full.
    private var slots: [Int32]
    private var hashes: [UInt64] = []
    private var keyOffsets: [Int32] = [0]  // key e is keys[keyOffsets[e]..<keyOffsets[e + 1]]
    private var idOffsets: [Int32] = [0]  // ids of e are ids[idOffsets[e]..<idOffsets[e + 1]]
    private var keys: [UInt8] = []
    private var ids: [Int32] = []
    private let maxEntries: Int
    private let maxBytes: Int
    /// Longer words are not worth keeping (they are rare and would crowd the key arena).
    static let maxWordBytes = 256

    /// Holds up to `maxEntries` words (and `maxBytes` of keys); when full it starts over empty.
    init(maxEntries: Int = 1 << 16, maxBytes: Int = 1 << 22) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
        var size = 16
        while size < 2 * maxEntries { size *= 2 }
        slots = [Int32](repeating: 0, count: size)
    }

    /// FNV-1a over the word's bytes with a final avalanche (splitmix64).
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<count { h = (h ^ UInt64(p[i])) &* 0x100_0000_01b3 }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }

    /// Appends the cached ids of `p[0..<count]` to `out`; false if the word is not cached.
    func lookUp(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, into out: inout [Int]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = find(p, count, hash: hash).entry else { return false }
        for i in Int(idOffsets[entry])..<Int(idOffsets[entry + 1]) { out.append(Int(ids[i])) }
        return true
    }

    func insert(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64, ids wordIds: [Int32]) {
        lock.lock()
        defer { lock.unlock() }
        if hashes.count >= maxEntries || keys.count + count > maxBytes { clear() }
        let (entry, slot) = find(p, count, hash: hash)
        if entry != nil { return }  // another caller inserted it meanwhile
        slots[slot] = Int32(hashes.count + 1)
        hashes.append(hash)
        keys.append(contentsOf: UnsafeBufferPointer(start: p, count: count))
        keyOffsets.append(Int32(keys.count))
        ids.append(contentsOf: wordIds)
        idOffsets.append(Int32(ids.count))
    }

    /// The entry holding the word, or the empty slot where it belongs.
    @inline(__always)
    private func find(_ p: UnsafePointer<UInt8>, _ count: Int, hash: UInt64) -> (entry: Int?, slot: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let stored = Int(slots[slot])
            if stored == 0 { return (nil, slot) }
            let e = stored - 1
            if hashes[e] == hash {
                let start = Int(keyOffsets[e])
                if Int(keyOffsets[e + 1]) - start == count
                    && keys.withUnsafeBufferPointer({ memcmp($0.baseAddress! + start, p, count) == 0 })
                {
                    return (e, slot)
                }
            }
            slot = (slot + 1) & mask
        }
    }

    private func clear() {
        for i in slots.indices { slots[i] = 0 }
        hashes.removeAll(keepingCapacity: true)
        keyOffsets.removeAll(keepingCapacity: true)
        keyOffsets.append(0)
        idOffsets.removeAll(keepingCapacity: true)
        idOffsets.append(0)
        keys.removeAll(keepingCapacity: true)
        ids.removeAll(keepingCapacity: true)
    }
}
