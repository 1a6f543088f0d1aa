// A read-only row-major matrix in any stored dtype (f32, f16, bf16, q8_0, q4_0, q4_1): the bytes of a
// mapped TensorView, or bytes the caller owns. Kernels decode blocks of rows from it; it never copies.

import TensorFile

public struct WeightMatrix: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let dtype: DType
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int

    /// Views `rows × cols` elements of `dtype` at `base` (valid while the owner of the bytes lives).
    public init(base: UnsafeRawPointer, dtype: DType, rows: Int, cols: Int) {
        guard let rb = dtype.rowBytes(count: cols) else {
            preconditionFailure("\(cols) columns is not a whole number of \(dtype.rawValue) blocks")
        }
        precondition(rows >= 0)
        self.base = base
        self.dtype = dtype
        self.rows = rows
        self.cols = cols
        self.rowBytes = rb
    }

    /// A 2-D view of a tensor: its last dimension is `cols`, the others are flattened into `rows`.
    public init(_ view: TensorView) {
        self.init(base: view.bytes.baseAddress!, dtype: view.dtype, rows: view.rows, cols: view.cols)
    }

    /// The data in place when it is f32.
    public var floats: UnsafePointer<Float>? {
        dtype == .f32 ? base.assumingMemoryBound(to: Float.self) : nil
    }

    /// Pointer to the first byte of `row`.
    @inline(__always) public func row(_ row: Int) -> UnsafeRawPointer {
        base + row * rowBytes
    }

    /// Decodes rows [start, start+count) into `dst` (count × cols floats), in parallel for large blocks.
    public func decodeRows(_ start: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(start >= 0 && count >= 0 && start + count <= rows)
        let minRows = max(1, 16_384 / max(1, cols))
        Parallel.forChunks(count: count, minChunk: minRows) { range, _ in
            dtype.decode(
                base + (start + range.lowerBound) * rowBytes, into: dst + range.lowerBound * cols,
                count: range.count * cols)
        }
    }

    /// Decodes rows [start, start+count) into `dst` (count × cols bf16, round to nearest even), in
    /// parallel for large blocks. A bf16 matrix is copied, an f32 one rounded, any other decoded a row at a
    /// time through f32.
    public func decodeRowsBF16(_ start: Int, count: Int, into dst: UnsafeMutablePointer<UInt16>) {
        precondition(start >= 0 && count >= 0 && start + count <= rows)
        let minRows = max(1, 16_384 / max(1, cols))
        Parallel.forChunks(count: count, minChunk: minRows) { range, _ in
            let out = dst + range.lowerBound * cols
            switch dtype {
            case .bf16:
                out.update(from: (base + (start + range.lowerBound) * rowBytes).assumingMemoryBound(to: UInt16.self), count: range.count * cols)
            case .f32:
                BF16Matmul.roundSerial(
                    (base + (start + range.lowerBound) * rowBytes).assumingMemoryBound(to: Float.self), into: out, count: range.count * cols)
            default:
                withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { row in
                    for (i, r) in range.enumerated() {
                        dtype.decode(base + (start + r) * rowBytes, into: row.baseAddress!, count: cols)
                        BF16Matmul.roundSerial(row.baseAddress!, into: out + i * cols, count: cols)
                    }
                }
            }
        }
    }
}
