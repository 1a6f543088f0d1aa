// Embedding: each output row is its token's decoded table row, for every dtype.

import Kernels
import TensorFile
import Testing

@Suite struct EmbeddingTests {
    @Test(arguments: DType.allCases)
    func rowsAreDecodedTableRows(dtype: DType) {
        let vocab = 50, dim = 64
        let table = randomFloats(vocab * dim, seed: 100)
        let bytes = FrozenLinearTests.encode(table, dtype)
        let tokens: [Int32] = [0, 49, 7, 7, 13]
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, dtype: dtype, rows: vocab, cols: dim)
            var out = [Float](repeating: .nan, count: tokens.count * dim)
            Embedding.forward(out: &out, tokens: tokens, table: w, count: tokens.count)
            for (t, id) in tokens.enumerated() {
                var row = [Float](repeating: 0, count: dim)
                w.decodeRows(Int(id), count: 1, into: &row)
                #expect(Array(out[(t * dim)..<((t + 1) * dim)]) == row, "\(dtype) token \(id)")
            }
        }
    }
}
