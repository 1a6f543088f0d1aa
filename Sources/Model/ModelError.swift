// Errors a caller can cause with bad input to the model: token ids, lengths, ranges, mismatched adapters.
// Each prints as one line naming the sequence, token or field.

public enum ModelError: Error, CustomStringConvertible, Sendable {
    case tokenOutOfRange(sequence: Int, index: Int, id: Int32, vocab: Int)
    case sequenceTooLong(sequence: Int, length: Int, maximum: Int)
    case emptyBatch
    case badCompletionRange(sequence: Int, range: Range<Int>, length: Int)
    case completionRangeCount(got: Int, sequences: Int)
    case gradientCount(got: Int, expected: Int)
    case adapterMismatch(what: String)
    case badRow(row: Int, tokens: Int)
    case badScoring(what: String)
    case unsupported(what: String)
    case generation(what: String)

    public var description: String {
        switch self {
        case .tokenOutOfRange(let s, let i, let id, let v):
            "sequence \(s), token \(i): id \(id) is outside the vocabulary (0..<\(v))"
        case .sequenceTooLong(let s, let l, let m):
            "sequence \(s) has \(l) tokens, more than the model's \(m) positions"
        case .emptyBatch: "the batch holds no tokens"
        case .badCompletionRange(let s, let r, let l):
            "sequence \(s): completion range \(r.lowerBound)..<\(r.upperBound) must lie in 1...\(l) (token 0 has no logits before it)"
        case .completionRangeCount(let g, let n): "\(g) completion ranges for \(n) sequences"
        case .gradientCount(let g, let e): "the loss gradient has \(g) values, the batch scores \(e) tokens"
        case .adapterMismatch(let w): "the LoRA adapter does not fit this model: \(w)"
        case .badRow(let r, let t): "row \(r) is outside the batch's \(t) tokens"
        case .badScoring(let w): "scored tokens: \(w)"
        case .unsupported(let w): w
        case .generation(let w): "generation: \(w)"
        }
    }
}
