// Dequantization of GGML blocks to f32, exactly as ggml's ggml-quants.c (block layouts in ggml-common.h):
// the same layouts and the same float operations in the same order, so results match gguf-py and
// transformers bit for bit.
// Q8_0, Q4_0 and Q4_1 share TensorFile's decoder (MTF stores those blocks unchanged).

import TensorFile

extension GGMLType {
    /// Decodes `count` elements (a whole number of blocks) from `src` into `dst`. `src` may be unaligned.
    /// Only the types in `GGMLType.dequantizable`; callers check first.
    public func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0 && count % blockSize == 0, "dequantize count must be whole blocks")
        let blocks = count / blockSize
        switch self {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            for i in 0..<count { dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count { dst[i] = bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q8_0: DType.q8_0.decode(src, into: dst, count: count)
        case .q4_0: DType.q4_0.decode(src, into: dst, count: count)
        case .q4_1: DType.q4_1.decode(src, into: dst, count: count)
        case .q5_0, .q5_1:
            for b in 0..<blocks { Self.q5(src + b * blockBytes, dst + b * 32, hasMin: self == .q5_1) }
        case .q2_K: for b in 0..<blocks { Self.q2K(src + b * 84, dst + b * 256) }
        case .q3_K: for b in 0..<blocks { Self.q3K(src + b * 110, dst + b * 256) }
        case .q4_K: for b in 0..<blocks { Self.q4K(src + b * 144, dst + b * 256) }
        case .q5_K: for b in 0..<blocks { Self.q5K(src + b * 176, dst + b * 256) }
        case .q6_K: for b in 0..<blocks { Self.q6K(src + b * 210, dst + b * 256) }
        default:
            preconditionFailure("dequantize: \(self) is not supported")
        }
    }

    // MARK: - Blocks of 32

    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always) private static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Q5_0 {half d; u8 qh[4]; u8 qs[16]}, Q5_1 {half d; half m; u8 qh[4]; u8 qs[16]}.
    private static func q5(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasMin: Bool) {
        let d = half(x, 0)
        let m: Float = hasMin ? half(x, 2) : 0
        let h = hasMin ? 4 : 2
        let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: h, as: UInt32.self))
        let qs = h + 4
        for j in 0..<16 {
            let xh0 = UInt8(truncatingIfNeeded: ((qh >> j) << 4) & 0x10)
            let xh1 = UInt8(truncatingIfNeeded: (qh >> (j + 12)) & 0x10)
            let q = byte(x, qs + j)
            if hasMin {
                y[j] = Float((q & 0x0F) | xh0) * d + m
                y[j + 16] = Float((q >> 4) | xh1) * d + m
            } else {
                y[j] = Float(Int32((q & 0x0F) | xh0) - 16) * d
                y[j + 16] = Float(Int32((q >> 4) | xh1) - 16) * d
            }
        }
    }

    // MARK: - K-quants (super-blocks of 256)

    /// Q2_K {u8 scales[16]; u8 qs[64]; half d; half dmin}.
    private static func q2K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 80)
        let dmin = half(x, 82)
        var out = 0
        var isc = 0
        for n in 0..<2 {
            let q = 16 + 32 * n
            var shift: UInt8 = 0
            for _ in 0..<4 {
                for part in 0..<2 {
                    let sc = byte(x, isc)
                    isc += 1
                    let dl = d * Float(sc & 0xF)
                    let ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        y[out] = dl * Float((byte(x, q + 16 * part + l) >> shift) & 3) - ml
                        out += 1
                    }
                }
                shift += 2
            }
        }
    }

    /// Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d}; 16 six-bit scales biased by 32.
    private static func q3K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let dAll = half(x, 108)
        var scales = [Int32](repeating: 0, count: 16)
        for k in 0..<16 {
            let low4 = k < 8 ? byte(x, 96 + k) & 0xF : byte(x, 96 + k - 8) >> 4
            let high2 = (byte(x, 96 + 8 + k % 4) >> (2 * (k / 4))) & 3
            scales[k] = Int32(low4 | (high2 << 4)) - 32
        }
        var out = 0
        var isc = 0
        var m: UInt8 = 1
        for n in 0..<2 {
            let q = 32 + 32 * n
            var shift: UInt8 = 0
            for _ in 0..<4 {
                for part in 0..<2 {
                    let dl = dAll * Float(scales[isc])
                    isc += 1
                    for l in 0..<16 {
                        let i = 16 * part + l
                        let low = Int32((byte(x, q + i) >> shift) & 3)
                        let high: Int32 = (byte(x, i) & m) != 0 ? 0 : 4
                        y[out] = dl * Float(low - high)
                        out += 1
                    }
                }
                shift += 2
                m <<= 1
            }
        }
    }

    /// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (get_scale_min_k4).
    @inline(__always) private static func scaleMinK4(_ j: Int, _ x: UnsafeRawPointer, _ scales: Int) -> (UInt8, UInt8) {
        let q = { byte(x, scales + $0) }
        if j < 4 { return (q(j) & 63, q(j + 4) & 63) }
        return ((q(j + 4) & 0xF) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4))
    }

    /// Q4_K {half d; half dmin; u8 scales[12]; u8 qs[128]}.
    private static func q4K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        let dmin = half(x, 2)
        var out = 0
        for g in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * g, x, 4)
            let (sc2, m2) = scaleMinK4(2 * g + 1, x, 4)
            let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
            let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
            let q = 16 + 32 * g
            for l in 0..<32 { y[out + l] = d1 * Float(byte(x, q + l) & 0xF) - mm1 }
            for l in 0..<32 { y[out + 32 + l] = d2 * Float(byte(x, q + l) >> 4) - mm2 }
            out += 64
        }
    }

    /// Q5_K {half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}.
    private static func q5K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        let dmin = half(x, 2)
        var out = 0
        var u1: UInt8 = 1
        var u2: UInt8 = 2
        for g in 0..<4 {
            let (sc1, m1) = scaleMinK4(2 * g, x, 4)
            let (sc2, m2) = scaleMinK4(2 * g + 1, x, 4)
            let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
            let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
            let ql = 48 + 32 * g
            for l in 0..<32 {
                let h: UInt8 = (byte(x, 16 + l) & u1) != 0 ? 16 : 0
                y[out + l] = d1 * Float((byte(x, ql + l) & 0xF) + h) - mm1
            }
            for l in 0..<32 {
                let h: UInt8 = (byte(x, 16 + l) & u2) != 0 ? 16 : 0
                y[out + 32 + l] = d2 * Float((byte(x, ql + l) >> 4) + h) - mm2
            }
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    /// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; half d}.
    private static func q6K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 208)
        for n in 0..<2 {
            let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n
            let yn = y + 128 * n
            for l in 0..<32 {
                let isc = l / 16
                let a = byte(x, ql + l), b = byte(x, ql + l + 32), h = byte(x, qh + l)
                let q1 = Int32((a & 0xF) | ((h >> 0) & 3) << 4) - 32
                let q2 = Int32((b & 0xF) | ((h >> 2) & 3) << 4) - 32
                let q3 = Int32((a >> 4) | ((h >> 4) & 3) << 4) - 32
                let q4 = Int32((b >> 4) | ((h >> 6) & 3) << 4) - 32
                let s = { Float(Int8(bitPattern: byte(x, sc + isc + $0))) }
                yn[l] = d * s(0) * Float(q1)
                yn[l + 32] = d * s(2) * Float(q2)
                yn[l + 64] = d * s(4) * Float(q3)
                yn[l + 96] = d * s(6) * Float(q4)
            }
        }
    }
}
