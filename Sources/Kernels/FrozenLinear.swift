// A frozen base-model linear layer over a mapped weight of any dtype: forward and the input gradient,
// never a weight gradient. f32 weights are used in place; other dtypes are decoded a block of output
// rows at a time into caller scratch and multiplied block by block, so the model is never decoded whole.
// M rows (tokens), K input features, N output features, B block rows.

import TensorFile

public struct FrozenLinear: @unchecked Sendable {
    public let weight: WeightMatrix  // (N, K)
    public let bias: [Float]?  // (N), decoded once
    /// Output rows decoded per block (B).
    public let blockRows: Int

    public static let defaultBlockRows = 128

    public var inFeatures: Int { weight.cols }
    public var outFeatures: Int { weight.rows }

    public init(weight: WeightMatrix, bias: [Float]? = nil, blockRows: Int = FrozenLinear.defaultBlockRows) {
        precondition(blockRows >= 1)
        precondition(bias == nil || bias!.count == weight.rows, "bias length must equal the output features")
        self.weight = weight
        self.bias = bias
        self.blockRows = blockRows
    }

    /// A layer over mapped tensors: `weight` (N, K), optional `bias` (N) of any float dtype.
    public init(weight: TensorView, bias: TensorView? = nil, blockRows: Int = FrozenLinear.defaultBlockRows) {
        precondition(weight.shape.count == 2, "a linear weight is 2-D, \(weight.name) is \(weight.shape)")
        precondition(bias == nil || bias!.info.elementCount == weight.shape[0], "bias \(bias?.name ?? "") has the wrong length")
        self.init(weight: WeightMatrix(weight), bias: bias?.toFloats(), blockRows: blockRows)
    }

    // MARK: - Scratch

    /// Floats of scratch `forward`/`backwardInput` need (0 for an f32 weight).
    public var scratchFloats: Int {
        Self.scratchFloats(dtype: weight.dtype, outFeatures: outFeatures, inFeatures: inFeatures, blockRows: blockRows)
    }

    public static func scratchFloats(
        dtype: DType, outFeatures: Int, inFeatures: Int, blockRows: Int = FrozenLinear.defaultBlockRows
    ) -> Int {
        dtype == .f32 ? 0 : min(blockRows, outFeatures) * inFeatures
    }

    // MARK: - Forward

    /// out = inp·Wᵀ + bias (or += with `accumulate`).
    public func forward(
        out: UnsafeMutablePointer<Float>,  // (M, N)
        inp: UnsafePointer<Float>,  // (M, K)
        rows m: Int,
        scratch: UnsafeMutablePointer<Float>?,  // (scratchFloats)
        accumulate: Bool = false
    ) {
        let k = inFeatures, n = outFeatures
        if let bias {
            bias.withUnsafeBufferPointer {
                Matmul.addBias(out: out, bias: $0.baseAddress!, m: m, n: n, accumulate: accumulate)
            }
        }
        let beta: Float = accumulate || bias != nil ? 1 : 0
        if let w = weight.floats {
            BLAS.parallelSgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: inp, lda: k, b: w, ldb: k, beta: beta, c: out, ldc: n)
            return
        }
        guard let scratch else { preconditionFailure("a \(weight.dtype.rawValue) weight needs scratch") }
        var n0 = 0
        while n0 < n {
            let nb = min(blockRows, n - n0)
            weight.decodeRows(n0, count: nb, into: scratch)  // (B, K)
            // out[:, n0..<n0+nb] = inp·Wblockᵀ
            BLAS.parallelSgemm(
                transA: false, transB: true, m: m, n: nb, k: k, alpha: 1, a: inp, lda: k, b: scratch, ldb: k,
                beta: beta, c: out + n0, ldc: n)
            n0 += nb
        }
    }

    // MARK: - Backward

    /// dinp = dout·W (or += with `accumulate`). Differentiates `out = inp·Wᵀ + bias`.
    public func backwardInput(
        dinp: UnsafeMutablePointer<Float>,  // (M, K)
        dout: UnsafePointer<Float>,  // (M, N)
        rows m: Int,
        scratch: UnsafeMutablePointer<Float>?,  // (scratchFloats)
        accumulate: Bool = false
    ) {
        let k = inFeatures, n = outFeatures
        if let w = weight.floats {
            Matmul.backwardInput(dinp: dinp, dout: dout, weight: w, m: m, k: k, n: n, accumulate: accumulate)
            return
        }
        guard let scratch else { preconditionFailure("a \(weight.dtype.rawValue) weight needs scratch") }
        var n0 = 0
        while n0 < n {
            let nb = min(blockRows, n - n0)
            weight.decodeRows(n0, count: nb, into: scratch)  // (B, K)
            // dinp (+)= dout[:, n0..<n0+nb]·Wblock
            BLAS.parallelSgemm(
                transA: false, transB: false, m: m, n: k, k: nb, alpha: 1, a: dout + n0, lda: n, b: scratch, ldb: k,
                beta: accumulate || n0 > 0 ? 1 : 0, c: dinp, ldc: k)
            n0 += nb
        }
    }
}
