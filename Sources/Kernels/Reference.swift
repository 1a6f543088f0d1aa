// Naive references for the fast kernels (llm.c's *_naive): plain loops in Double, written for clarity,
// used by the tests to check the kernels and, through finite differences, their backward passes.
// M rows, K input, N output, T tokens, H heads, Hk kv heads, Dh head dim, D model dim, V vocab, R rank.

import Foundation
import TensorFile

public enum Reference {
    // MARK: - Matmul

    /// out = inp·Wᵀ + bias
    public static func matmul(inp: [Double], weight: [Double], bias: [Double]?, m: Int, k: Int, n: Int) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)  // (M, N)
        for r in 0..<m {
            for c in 0..<n {
                var s = bias?[c] ?? 0
                for i in 0..<k { s += inp[r * k + i] * weight[c * k + i] }
                out[r * n + c] = s
            }
        }
        return out
    }

    // MARK: - RMSNorm

    public static func rmsnorm(inp: [Double], weight: [Double], rows: Int, dim: Int, eps: Double) -> [Double] {
        var out = [Double](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            var ss = 0.0
            for i in 0..<dim { ss += inp[r * dim + i] * inp[r * dim + i] }
            let s = 1 / (ss / Double(dim) + eps).squareRoot()
            for i in 0..<dim { out[r * dim + i] = weight[i] * inp[r * dim + i] * s }
        }
        return out
    }

    // MARK: - RoPE

    /// Inverse frequencies in Double, straight from the formulas (HF default, linear, llama3).
    public static func ropeInverseFrequencies(headDim: Int, theta: Double, scaling: RopeScaling?) -> [Double] {
        var inv = (0..<(headDim / 2)).map { 1 / pow(theta, Double(2 * $0) / Double(headDim)) }
        switch scaling?.ropeType {
        case "linear": inv = inv.map { $0 / scaling!.factor }
        case "llama3":
            let s = scaling!
            let old = Double(s.originalMaxPositionEmbeddings!), low = s.lowFreqFactor!, high = s.highFreqFactor!
            inv = inv.map { f in
                let wavelen = 2 * Double.pi / f
                if wavelen < old / high { return f }
                if wavelen > old / low { return f / s.factor }
                let smooth = (old / wavelen - low) / (high - low)
                return (1 - smooth) * f / s.factor + smooth * f
            }
        default: break
        }
        return inv
    }

    /// x rotated per head with rotate_half pairs (i, i + Dh/2) at angle position·invFreq[i].
    public static func rope(x: [Double], positions: [Int], heads: Int, headDim: Int, invFreq: [Double]) -> [Double] {
        var out = x
        let half = headDim / 2, width = heads * headDim
        for t in positions.indices {
            for h in 0..<heads {
                for i in 0..<half {
                    let a = Double(positions[t]) * invFreq[i]
                    let o = t * width + h * headDim
                    let x1 = x[o + i], x2 = x[o + i + half]
                    out[o + i] = x1 * cos(a) - x2 * sin(a)
                    out[o + i + half] = x2 * cos(a) + x1 * sin(a)
                }
            }
        }
        return out
    }

    // MARK: - Attention

    /// Causal GQA attention per segment: out (T, H·Dh) and lse (T, H). Tokens outside segments stay 0.
    public static func attention(
        q: [Double], k: [Double], v: [Double], segments: [Range<Int>], heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil
    ) -> (out: [Double], lse: [Double]) {
        attention(
            q: q, k: k, v: v, spans: segments.map { Attention.Span($0) }, heads: heads, kvHeads: kvHeads, headDim: headDim,
            window: window)
    }

    /// GQA attention per span: query i of a span sees the span's prefix keys, then its own keys up to i; with
    /// a window, only the last `window` of those keys (itself included). Scores are scale·q·k (scale 1/√Dh
    /// unless given), soft-capped to cap·tanh(s/cap) with a `softcap`.
    /// out (T, H·Dh) and lse (T, H); tokens outside spans stay 0.
    public static func attention(
        q: [Double], k: [Double], v: [Double], spans: [Attention.Span], heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil,
        scale: Double? = nil, softcap: Double? = nil
    ) -> (out: [Double], lse: [Double]) {
        let t = q.count / (heads * headDim)
        var out = [Double](repeating: 0, count: q.count), lse = [Double](repeating: 0, count: t * heads)
        let ldq = heads * headDim, ldk = kvHeads * headDim, group = heads / kvHeads
        let scale = scale ?? 1 / Double(headDim).squareRoot()
        for span in spans {
            for h in 0..<heads {
                let g = h / group
                for i in span.rows {
                    let all = Array(span.prefix) + Array(span.rows.lowerBound...i)
                    let keys = window.map { Array(all.suffix($0)) } ?? all
                    var scores: [Double] = []
                    for j in keys {
                        var s = 0.0
                        for d in 0..<headDim { s += q[i * ldq + h * headDim + d] * k[j * ldk + g * headDim + d] }
                        scores.append(softcap.map { $0 * tanh(s * scale / $0) } ?? s * scale)
                    }
                    let mx = scores.max()!
                    let sum = scores.reduce(0) { $0 + exp($1 - mx) }
                    lse[i * heads + h] = mx + log(sum)
                    for (n, j) in keys.enumerated() {
                        let p = exp(scores[n] - mx) / sum
                        for d in 0..<headDim { out[i * ldq + h * headDim + d] += p * v[j * ldk + g * headDim + d] }
                    }
                }
            }
        }
        return (out, lse)
    }

    // MARK: - SwiGLU

    public static func swiglu(gate: [Double], up: [Double]) -> [Double] {
        zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
    }

    // MARK: - Log-probabilities

    /// Full log_softmax of hidden·Wᵀ at each row's target: logps, lse and the mean logit per row; with a
    /// `softcap` every logit l is cap·tanh(l/cap) first.
    public static func logprobs(
        hidden: [Double], targets: [Int], weight: [Double], rows: Int, dim: Int, vocab: Int, softcap: Double? = nil
    ) -> (logps: [Double], lse: [Double], means: [Double]) {
        var logps: [Double] = [], lses: [Double] = [], means: [Double] = []
        for r in 0..<rows {
            var logits = [Double](repeating: 0, count: vocab)
            for v in 0..<vocab {
                for i in 0..<dim { logits[v] += hidden[r * dim + i] * weight[v * dim + i] }
                if let softcap { logits[v] = softcap * tanh(logits[v] / softcap) }
            }
            let mx = logits.max()!
            let lse = mx + log(logits.reduce(0) { $0 + exp($1 - mx) })
            logps.append(logits[targets[r]] - lse)
            lses.append(lse)
            means.append(logits.reduce(0, +) / Double(vocab))
        }
        return (logps, lses, means)
    }

    /// Per row of hidden·Wᵀ: the entropy −Σ p·log p, log Σ p² and the first index of the largest logit.
    public static func distributionStatistics(
        hidden: [Double], weight: [Double], rows: Int, dim: Int, vocab: Int
    ) -> (entropy: [Double], logSumSquares: [Double], argmax: [Int]) {
        var entropy: [Double] = [], squares: [Double] = [], argmax: [Int] = []
        for r in 0..<rows {
            var logits = [Double](repeating: 0, count: vocab)
            for v in 0..<vocab {
                for i in 0..<dim { logits[v] += hidden[r * dim + i] * weight[v * dim + i] }
            }
            let mx = logits.max()!
            let lse = mx + log(logits.reduce(0) { $0 + exp($1 - mx) })
            let logp = logits.map { $0 - lse }
            entropy.append(-logp.reduce(0) { $0 + exp($1) * $1 })
            squares.append(log(logp.reduce(0) { $0 + exp(2 * $1) }))
            argmax.append(logits.firstIndex(of: mx)!)
        }
        return (entropy, squares, argmax)
    }

    /// Per row: KL(p‖q) with p = softmax(hidden·Wᵀ), q = softmax(referenceHidden·Wᵀ).
    public static func kl(hidden: [Double], referenceHidden: [Double], weight: [Double], rows: Int, dim: Int, vocab: Int) -> [Double] {
        func logSoftmax(_ h: [Double], _ r: Int) -> [Double] {
            var logits = [Double](repeating: 0, count: vocab)
            for v in 0..<vocab {
                for i in 0..<dim { logits[v] += h[r * dim + i] * weight[v * dim + i] }
            }
            let mx = logits.max()!
            let lse = mx + log(logits.reduce(0) { $0 + exp($1 - mx) })
            return logits.map { $0 - lse }
        }
        return (0..<rows).map { r in
            let lp = logSoftmax(hidden, r), lq = logSoftmax(referenceHidden, r)
            return zip(lp, lq).reduce(0) { $0 + exp($1.0) * ($1.0 - $1.1) }
        }
    }

    // MARK: - LoRA

    /// scale · (inp·Aᵀ)·Bᵀ
    public static func lora(inp: [Double], a: [Double], b: [Double], scale: Double, m: Int, k: Int, n: Int, r: Int) -> [Double] {
        let tmp = matmul(inp: inp, weight: a, bias: nil, m: m, k: k, n: r)
        return matmul(inp: tmp, weight: b, bias: nil, m: m, k: r, n: n).map { $0 * scale }
    }
}
