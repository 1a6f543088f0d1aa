// Element types an MTF tensor can hold, their block layouts, and row decoding to f32.
// Quantized layouts are exactly GGML's blocks (ggml-common.h), so GGUF data can be stored unchanged.

// MARK: - DType

public enum DType: String, Codable, Sendable, CaseIterable {
    case f32, f16, bf16
    case q8_0, q4_0, q4_1

    /// Elements per block (1 for plain floats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1: 32
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 34
        case .q4_0: 18
        case .q4_1: 20
        }
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Byte length of a row of `count` elements, or nil when `count` is not a whole number of blocks.
    public func rowBytes(count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        return (count / blockSize) * blockBytes
    }

    /// Byte length of a tensor with `shape` (blocks run along the last dimension), nil on overflow or
    /// a last dimension that is not a whole number of blocks.
    public func byteCount(shape: [Int]) -> Int? {
        guard shape.allSatisfy({ $0 >= 0 }) else { return nil }
        let last = shape.last ?? 1
        guard let row = rowBytes(count: last) else { return nil }
        var total = row
        for d in shape.dropLast() {
            let (p, o) = total.multipliedReportingOverflow(by: d)
            if o { return nil }
            total = p
        }
        return total
    }
}

// MARK: - Half precision

@inline(__always) public func halfToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

@inline(__always) public func floatToHalf(_ x: Float) -> UInt16 {
    Float16(x).bitPattern
}

@inline(__always) public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Round to nearest even, NaNs kept quiet (as ggml_compute_fp32_to_bf16).
@inline(__always) public func floatToBF16(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if (u & 0x7fff_ffff) > 0x7f80_0000 { return UInt16((u >> 16) | 64) }
    return UInt16((u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16)
}

// MARK: - Row decoding

extension DType {
    /// Decodes `count` elements starting at `src` into `dst`. `count` must be a whole number of blocks.
    public func decode(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count % blockSize == 0, "decode count must be whole blocks")
        switch self {
        case .f32:
            dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = halfToFloat(s[i]) }
        case .bf16:
            let s = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = bf16ToFloat(s[i]) }
        case .q8_0:
            for b in 0..<(count / 32) {
                let block = src + b * 34
                let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
                let qs = (block + 2).assumingMemoryBound(to: Int8.self)
                let y = dst + b * 32
                for j in 0..<32 { y[j] = Float(qs[j]) * d }
            }
        case .q4_0:
            for b in 0..<(count / 32) {
                let block = src + b * 18
                let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
                let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
                let y = dst + b * 32
                for j in 0..<16 {
                    y[j] = Float(Int(qs[j] & 0xF) - 8) * d
                    y[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<(count / 32) {
                let block = src + b * 20
                let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
                let m = halfToFloat((block + 2).loadUnaligned(as: UInt16.self))
                let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
                let y = dst + b * 32
                for j in 0..<16 {
                    y[j] = Float(qs[j] & 0xF) * d + m
                    y[j + 16] = Float(qs[j] >> 4) * d + m
                }
            }
        }
    }

    /// Encodes f32 values into this dtype (`count` a whole number of blocks). The quantized types use
    /// ggml's reference quantizers (quantize_row_q8_0_ref, _q4_0_ref, _q4_1_ref), so a file converted here
    /// decodes as llama.cpp would decode the same blocks.
    public func encode(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
        precondition(count % blockSize == 0, "encode count must be whole blocks")
        switch self {
        case .f32:
            dst.copyMemory(from: src, byteCount: count * 4)
        case .f16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { d[i] = floatToHalf(src[i]) }
        case .bf16:
            let d = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { d[i] = floatToBF16(src[i]) }
        case .q8_0:
            for b in 0..<(count / 32) {
                let x = src + 32 * b
                let block = dst + 34 * b
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(x[j])) }
                let d = amax / 127
                let id: Float = d != 0 ? 1 / d : 0
                block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
                for j in 0..<32 { block.storeBytes(of: Int8((x[j] * id).rounded()), toByteOffset: 2 + j, as: Int8.self) }
            }
        case .q4_0:
            for b in 0..<(count / 32) {
                let x = src + 32 * b
                let block = dst + 18 * b
                // The value of largest magnitude, with its sign, maps to −8.
                var amax: Float = 0
                var extreme: Float = 0
                for j in 0..<32 where abs(x[j]) > amax {
                    amax = abs(x[j])
                    extreme = x[j]
                }
                let d = extreme / -8
                let id: Float = d != 0 ? 1 / d : 0
                block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
                for j in 0..<16 {
                    let lo = min(15, Int(x[j] * id + 8.5))
                    let hi = min(15, Int(x[16 + j] * id + 8.5))
                    block.storeBytes(of: UInt8(lo | hi << 4), toByteOffset: 2 + j, as: UInt8.self)
                }
            }
        case .q4_1:
            for b in 0..<(count / 32) {
                let x = src + 32 * b
                let block = dst + 20 * b
                var lo = Float.greatestFiniteMagnitude
                var hi = -Float.greatestFiniteMagnitude
                for j in 0..<32 {
                    lo = min(lo, x[j])
                    hi = max(hi, x[j])
                }
                let d = (hi - lo) / 15
                let id: Float = d != 0 ? 1 / d : 0
                block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
                block.storeBytes(of: floatToHalf(lo).littleEndian, toByteOffset: 2, as: UInt16.self)
                for j in 0..<16 {
                    let a = min(15, Int((x[j] - lo) * id + 0.5))
                    let c = min(15, Int((x[16 + j] - lo) * id + 0.5))
                    block.storeBytes(of: UInt8(a | c << 4), toByteOffset: 4 + j, as: UInt8.self)
                }
            }
        }
    }
}
