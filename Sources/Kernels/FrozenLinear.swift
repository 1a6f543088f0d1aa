// A frozen base-model linear layer over a mapped weight of any dtype: forward and the input gradient,
// never a weight gradient. f32 weights are used in place; other dtypes are decoded a block of output
// rows at a time into caller scratch and multiplied block by block, so the model is never decoded whole.
// With bf16 scratch (`--compute-dtype bf16`) the products run in bf16 through oneDNN (BF16Matmul): the
// input is rounded to bf16, a bf16 weight is used in place and any other dtype is decoded to bf16 a block
// of rows at a time; accumulation and outputs stay f32.
// M rows (tokens), K input features, N output features, B block rows.

import TensorFile

public struct FrozenLinear: @unchecked Sendable {
    public let weight: WeightMatrix  // (N, K)
    public let bias: [Float]?  // (N), decoded once
    /// Output rows decoded per block (B).
    public let blockRows: Int
    /// Output rows decoded to bf16 per block for bf16 products (a weight of another dtype).
    public let bf16BlockRows: Int

    public static let defaultBlockRows = 128

    public var inFeatures: Int { weight.cols }
    public var outFeatures: Int { weight.rows }

    public init(weight: WeightMatrix, bias: [Float]? = nil, blockRows: Int = FrozenLinear.defaultBlockRows, bf16BlockRows: Int? = nil) {
        precondition(blockRows >= 1 && (bf16BlockRows ?? 1) >= 1)
        precondition(bias == nil || bias!.count == weight.rows, "bias length must equal the output features")
        self.weight = weight
        self.bias = bias
        self.blockRows = blockRows
        self.bf16BlockRows = min(weight.rows, bf16BlockRows ?? max(16, Self.bf16BlockElements / max(1, weight.cols)))
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

    /// bf16 elements of weight scratch per block by default (8 MiB): whole matrices up to SmolLM2-135M's,
    /// a few blocks at 1–8B. A bf16 weight needs none.
    public static let bf16BlockElements = 1 << 22

    /// bf16 elements of weight scratch a bf16 product needs (0 for a bf16 weight).
    public var bf16WeightScratch: Int {
        weight.dtype == .bf16 ? 0 : bf16BlockRows * inFeatures
    }

    /// Scratch for bf16 products: the rounded input (or output gradient) and a block of decoded weight rows.
    public struct BF16Scratch: @unchecked Sendable {
        public let inputs: UnsafeMutablePointer<UInt16>  // (M, max(K, N))
        public let weights: UnsafeMutablePointer<UInt16>?  // (bf16WeightScratch), nil when every weight is bf16

        public init(inputs: UnsafeMutablePointer<UInt16>, weights: UnsafeMutablePointer<UInt16>?) {
            self.inputs = inputs
            self.weights = weights
        }
    }

    // MARK: - Forward

    /// out = inp·Wᵀ + bias (or += with `accumulate`).
    public func forward(
        out: UnsafeMutablePointer<Float>,  // (M, N)
        inp: UnsafePointer<Float>,  // (M, K)
        rows m: Int,
        scratch: UnsafeMutablePointer<Float>?,  // (scratchFloats)
        accumulate: Bool = false,
        bf16: BF16Scratch? = nil
    ) {
        let k = inFeatures, n = outFeatures
        if let bias {
            bias.withUnsafeBufferPointer {
                Matmul.addBias(out: out, bias: $0.baseAddress!, m: m, n: n, accumulate: accumulate)
            }
        }
        let beta: Float = accumulate || bias != nil ? 1 : 0
        if let bf16 {
            BF16Matmul.round(inp, into: bf16.inputs, count: m * k)
            if weight.dtype == .bf16 {
                BF16Matmul.gemm(
                    transB: true, m: m, n: n, k: k, a: bf16.inputs, lda: k, b: weight.base.assumingMemoryBound(to: UInt16.self), ldb: k,
                    accumulate: beta != 0, c: out, ldc: n)
                return
            }
            guard let w = bf16.weights else { preconditionFailure("a \(weight.dtype.rawValue) weight needs bf16 weight scratch") }
            inBlocks(of: bf16BlockRows, decode: { weight.decodeRowsBF16($0, count: $1, into: w) }) { n0, nb in
                // out[:, n0..<n0+nb] = inp·Wblockᵀ
                BF16Matmul.gemm(
                    transB: true, m: m, n: nb, k: k, a: bf16.inputs, lda: k, b: w, ldb: k, accumulate: beta != 0, c: out + n0, ldc: n)
            }
            return
        }
        if let w = weight.floats {
            BLAS.parallelSgemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: inp, lda: k, b: w, ldb: k, beta: beta, c: out, ldc: n)
            return
        }
        guard let scratch else { preconditionFailure("a \(weight.dtype.rawValue) weight needs scratch") }
        inBlocks(of: blockRows, decode: { weight.decodeRows($0, count: $1, into: scratch) }) { n0, nb in
            // out[:, n0..<n0+nb] = inp·Wblockᵀ
            BLAS.parallelSgemm(
                transA: false, transB: true, m: m, n: nb, k: k, alpha: 1, a: inp, lda: k, b: scratch, ldb: k,
                beta: beta, c: out + n0, ldc: n)
        }
    }

    // MARK: - Backward

    /// dinp = dout·W (or += with `accumulate`). Differentiates `out = inp·Wᵀ + bias`.
    public func backwardInput(
        dinp: UnsafeMutablePointer<Float>,  // (M, K)
        dout: UnsafePointer<Float>,  // (M, N)
        rows m: Int,
        scratch: UnsafeMutablePointer<Float>?,  // (scratchFloats)
        accumulate: Bool = false,
        bf16: BF16Scratch? = nil
    ) {
        let k = inFeatures, n = outFeatures
        if let bf16 {
            BF16Matmul.round(dout, into: bf16.inputs, count: m * n)
            if weight.dtype == .bf16 {
                BF16Matmul.gemm(
                    transB: false, m: m, n: k, k: n, a: bf16.inputs, lda: n, b: weight.base.assumingMemoryBound(to: UInt16.self), ldb: k,
                    accumulate: accumulate, c: dinp, ldc: k)
                return
            }
            guard let w = bf16.weights else { preconditionFailure("a \(weight.dtype.rawValue) weight needs bf16 weight scratch") }
            inBlocks(of: bf16BlockRows, decode: { weight.decodeRowsBF16($0, count: $1, into: w) }) { n0, nb in
                // dinp (+)= dout[:, n0..<n0+nb]·Wblock
                BF16Matmul.gemm(
                    transB: false, m: m, n: k, k: nb, a: bf16.inputs + n0, lda: n, b: w, ldb: k, accumulate: accumulate || n0 > 0,
                    c: dinp, ldc: k)
            }
            return
        }
        if let w = weight.floats {
            Matmul.backwardInput(dinp: dinp, dout: dout, weight: w, m: m, k: k, n: n, accumulate: accumulate)
            return
        }
        guard let scratch else { preconditionFailure("a \(weight.dtype.rawValue) weight needs scratch") }
        inBlocks(of: blockRows, decode: { weight.decodeRows($0, count: $1, into: scratch) }) { n0, nb in
            // dinp (+)= dout[:, n0..<n0+nb]·Wblock
            BLAS.parallelSgemm(
                transA: false, transB: false, m: m, n: k, k: nb, alpha: 1, a: dout + n0, lda: n, b: scratch, ldb: k,
                beta: accumulate || n0 > 0 ? 1 : 0, c: dinp, ldc: k)
        }
    }

    // MARK: - Blocks

    /// The one loop behind every product with a weight not used in place: decode `rows` output rows
    /// (weight rows n0..<n0+nb, into scratch), then multiply against them, until every row is done.
    @inline(__always)
    private func inBlocks(of rows: Int, decode: (_ n0: Int, _ nb: Int) -> Void, multiply: (_ n0: Int, _ nb: Int) -> Void) {
        var n0 = 0
        while n0 < outFeatures {
            let nb = min(rows, outFeatures - n0)
            decode(n0, nb)
            multiply(n0, nb)
            n0 += nb
        }
    }
}
