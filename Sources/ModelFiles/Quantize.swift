// f32 → the GGML element types an export writes: F32, F16, BF16 and Q8_0 (ggml's reference quantizer
// quantize_row_q8_0_ref: d = amax/127 stored as f16, q = roundf(x/d)), the inverse of `dequantize`.

import Foundation
import TensorFile

extension GGMLType {
    /// The types `encode` writes.
    public static let encodable: [GGMLType] = [.f32, .f16, .bf16, .q8_0]

    /// Encodes `count` values (whole blocks) into `dst`, which holds count / blockSize · blockBytes bytes.
    public func encode(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
        precondition(count % blockSize == 0, "encode count must be whole blocks")
        switch self {
        case .f32:
            for i in 0..<count { dst.storeBytes(of: src[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for i in 0..<count { dst.storeBytes(of: floatToHalf(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<count { dst.storeBytes(of: floatToBF16(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            DType.q8_0.encode(src, into: dst, count: count)
        default:
            preconditionFailure("encoding to \(self) is not supported")
        }
    }
}
