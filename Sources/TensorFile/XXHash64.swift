// XXH64 (Yann Collet's xxHash, 64-bit variant, seed 0 by default): tensor checksums and fingerprints.
// Streaming, so a tensor can be hashed while it is written.

public struct XXHash64: Sendable {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1, v2, v3, v4: UInt64
    private let seed: UInt64
    private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var bufferCount = 0
    private var totalLength: UInt64 = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
    }

    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        var a = acc &+ input &* p2
        a = (a << 31) | (a >> 33)
        return a &* p1
    }

    @inline(__always) private static func merge(_ acc: UInt64, _ val: UInt64) -> UInt64 {
        let a = acc ^ round(0, val)
        return a &* p1 &+ p4
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var p = base
        var remaining = bytes.count
        totalLength &+= UInt64(remaining)
        // Fill a pending partial stripe first.
        if bufferCount > 0 {
            withUnsafeMutableBytes(of: &buffer) { buf in
                let take = min(32 - bufferCount, remaining)
                (buf.baseAddress! + bufferCount).copyMemory(from: p, byteCount: take)
                bufferCount += take
                p += take
                remaining -= take
            }
            if bufferCount < 32 { return }
            v1 = Self.round(v1, UInt64(littleEndian: buffer.0))
            v2 = Self.round(v2, UInt64(littleEndian: buffer.1))
            v3 = Self.round(v3, UInt64(littleEndian: buffer.2))
            v4 = Self.round(v4, UInt64(littleEndian: buffer.3))
            bufferCount = 0
        }
        while remaining >= 32 {
            v1 = Self.round(v1, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
            v2 = Self.round(v2, UInt64(littleEndian: (p + 8).loadUnaligned(as: UInt64.self)))
            v3 = Self.round(v3, UInt64(littleEndian: (p + 16).loadUnaligned(as: UInt64.self)))
            v4 = Self.round(v4, UInt64(littleEndian: (p + 24).loadUnaligned(as: UInt64.self)))
            p += 32
            remaining -= 32
        }
        if remaining > 0 {
            withUnsafeMutableBytes(of: &buffer) { buf in
                buf.baseAddress!.copyMemory(from: p, byteCount: remaining)
            }
            bufferCount = remaining
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> UInt64 {
        var h: UInt64
        if totalLength >= 32 {
            h =
                ((v1 << 1) | (v1 >> 63)) &+ ((v2 << 7) | (v2 >> 57)) &+ ((v3 << 12) | (v3 >> 52))
                &+ ((v4 << 18) | (v4 >> 46))
            h = Self.merge(h, v1)
            h = Self.merge(h, v2)
            h = Self.merge(h, v3)
            h = Self.merge(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h &+= totalLength
        var tail = buffer
        let count = bufferCount
        withUnsafeBytes(of: &tail) { buf in
            var p = buf.baseAddress!
            var left = count
            while left >= 8 {
                let k1 = Self.round(0, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
                h ^= k1
                h = ((h << 27) | (h >> 37)) &* Self.p1 &+ Self.p4
                p += 8
                left -= 8
            }
            if left >= 4 {
                h ^= UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))) &* Self.p1
                h = ((h << 23) | (h >> 41)) &* Self.p2 &+ Self.p3
                p += 4
                left -= 4
            }
            while left > 0 {
                h ^= UInt64(p.load(as: UInt8.self)) &* Self.p5
                h = ((h << 11) | (h >> 53)) &* Self.p1
                p += 1
                left -= 1
            }
        }
        h ^= h >> 33
        h = h &* Self.p2
        h ^= h >> 29
        h = h &* Self.p3
        h ^= h >> 32
        return h
    }

    /// One-shot hash.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = XXHash64(seed: seed)
        h.update(bytes)
        return h.finalize()
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    /// 16 lowercase hex digits, the form stored in headers.
    public static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
