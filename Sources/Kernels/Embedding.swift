// Token embedding lookup from a table of any dtype: each output row is the decoded table row of its
// token. The table is frozen, so there is no backward.
// T tokens, D model dim, V vocab.

import TensorFile

public enum Embedding {
    public static func forward(
        out: UnsafeMutablePointer<Float>,  // (T, D)
        tokens: UnsafePointer<Int32>,  // (T)
        table: WeightMatrix,  // (V, D)
        count: Int
    ) {
        let d = table.cols
        Parallel.forChunks(count: count, minChunk: max(1, 16_384 / max(1, d))) { range, _ in
            for t in range {
                let id = Int(tokens[t])
                precondition(id >= 0 && id < table.rows, "token id \(id) is outside the vocabulary (\(table.rows))")
                table.dtype.decode(table.row(id), into: out + t * d, count: d)
            }
        }
    }
}
