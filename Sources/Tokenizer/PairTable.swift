// The merge table: (left id, right id) -> (rank, merged id), as an open-addressing hash table with a
// multiplicative hash. Swift's Dictionary (SipHash) was the largest cost of the merge loop.

final class PairTable: @unchecked Sendable {
    // @unchecked: the buffers are filled in init and only read afterwards.
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int
    private let shift: UInt64
    private static let empty = UInt64.max  // no pair of non-negative Int32 ids has this key

    /// Later entries with the same key overwrite earlier ones (as tokenizers' HashMap does).
    init(_ entries: [(key: UInt64, value: UInt64)]) {
        var bits: UInt64 = 4
        while (1 << bits) < 2 * max(entries.count, 1) { bits += 1 }
        let size = 1 << Int(bits)
        keys = .allocate(capacity: size)
        keys.initialize(repeating: Self.empty, count: size)
        values = .allocate(capacity: size)
        values.initialize(repeating: 0, count: size)
        mask = size - 1
        shift = 64 - bits
        for (key, value) in entries {
            var slot = self.slot(key)
            while keys[slot] != Self.empty && keys[slot] != key { slot = (slot + 1) & mask }
            keys[slot] = key
            values[slot] = value
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int((key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    @inline(__always)
    subscript(key: UInt64) -> UInt64? {
        var slot = self.slot(key)
        while true {
            let stored = keys[slot]
            if stored == key { return values[slot] }
            if stored == Self.empty { return nil }
            slot = (slot + 1) & mask
        }
    }
}
