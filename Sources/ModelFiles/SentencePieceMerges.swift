// Between the two ways a SentencePiece BPE ranks merges: tokenizer.json's merges list (rank = position) and
// GGUF's per-token scores (llama.cpp merges toward the highest-scored piece). Used when exporting across.

import TensorFile

enum SentencePieceMerges {
    /// Every split "a b" of a piece into two vocab pieces, ordered by the piece's score (highest first), then by
    /// the ids of a and b. Control (3) and byte (6) tokens are never merge results, as in the tokenizer.
    static func merges(vocab: [String], scores: [Float], types: [Int]?) -> [String] {
        var ids: [[UInt8]: Int] = [:]
        for (id, token) in vocab.enumerated() where ids[Array(token.utf8)] == nil { ids[Array(token.utf8)] = id }
        var found: [(score: Float, a: Int, b: Int, text: String)] = []
        for (id, token) in vocab.enumerated() {
            let type = types?[id] ?? 1
            if type == 3 || type == 6 || ids[Array(token.utf8)] != id { continue }
            let scalars = Array(token.unicodeScalars)
            if scalars.count < 2 { continue }
            for k in 1..<scalars.count {
                var left = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<k])
                var right = String.UnicodeScalarView()
                right.append(contentsOf: scalars[k...])
                let l = String(left)
                let r = String(right)
                guard let a = ids[Array(l.utf8)], let b = ids[Array(r.utf8)], !l.unicodeScalars.contains(" "), !r.unicodeScalars.contains(" ") else {
                    continue
                }
                found.append((scores[id], a, b, l + " " + r))
            }
        }
        found.sort { ($0.score, -$0.a, -$0.b) > ($1.score, -$1.a, -$1.b) }
        return found.map(\.text)
    }

    /// Scores that make score-based merging follow a merges list: the earlier a piece's first merge, the
    /// higher its score; pieces no merge makes score below every merge.
    static func scores(vocab: [String], merges: [String]) -> [Float] {
        var ids: [[UInt8]: Int] = [:]
        for (id, token) in vocab.enumerated() where ids[Array(token.utf8)] == nil { ids[Array(token.utf8)] = id }
        var scores = [Float](repeating: -Float(merges.count) - 1, count: vocab.count)
        var seen = [Bool](repeating: false, count: vocab.count)
        for (rank, merge) in merges.enumerated() {
            guard let (left, right) = TokenizerData.splitMerge(merge) else { continue }
            let merged = left + right
            if let id = ids[Array(merged.utf8)], !seen[id] {
                seen[id] = true
                scores[id] = -Float(rank)
            }
        }
        return scores
    }

    /// llama.cpp token types for a tokenizer without them: added tokens control (special) or user-defined,
    /// `<0xNN>` byte, the unk token unknown, everything else normal.
    static func tokenTypes(_ t: TokenizerData) -> [Int] {
        var types = [Int](repeating: 1, count: t.vocab.count)
        for (id, token) in t.vocab.enumerated() {
            let u = Array(token.utf8)
            if u.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">"), UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16) != nil {
                types[id] = 6
            }
        }
        for a in t.addedTokens where types.indices.contains(a.id) { types[a.id] = a.special ? 3 : 4 }
        if let unk = t.unkToken ?? t.sentencePiece?.unkToken, let id = t.vocab.firstIndex(of: unk) { types[id] = 2 }
        return types
    }
}
