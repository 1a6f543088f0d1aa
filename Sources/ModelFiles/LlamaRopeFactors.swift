// Llama 3 rope scaling recovered from a GGUF's `rope_freqs.weight` (llama.cpp stores the per-frequency
// factors instead of the four config numbers). The factors follow transformers' llama3 rule; the fit
// assumes low_freq_factor 1 (every Llama 3.x), then recomputes all factors and refuses any mismatch.

import Foundation
import TensorFile

enum LlamaRopeFactors {
    /// The llama3 rule (transformers `_compute_llama3_parameters`, llama.cpp `generate_extra_tensors`):
    /// the factor dividing each rotary frequency.
    static func factors(_ s: RopeScaling, ropeTheta: Double, headDim: Int) -> [Double] {
        let l = Double(s.originalMaxPositionEmbeddings ?? 8192)
        let lf = s.lowFreqFactor ?? 1, hf = s.highFreqFactor ?? 4
        return (0..<(headDim / 2)).map { i in
            let freq = 1 / pow(ropeTheta, Double(2 * i) / Double(headDim))
            let wavelen = 2 * Double.pi / freq
            if wavelen < l / hf { return 1 }
            if wavelen > l / lf { return s.factor }
            let smooth = (l / wavelen - lf) / (hf - lf)
            return 1 / ((1 - smooth) / s.factor + smooth)
        }
    }

    static func scaling(fromFactors r: [Float], ropeTheta: Double, headDim: Int, known: RopeScaling?, path: String) throws
        -> RopeScaling
    {
        func fail(_ what: String) -> ModelFileError {
            ModelFileError(.unsupported, path, "rope_freqs.weight: \(what)", at: "tensor rope_freqs.weight")
        }
        guard known == nil else { throw fail("present together with rope.scaling keys") }
        guard r.count == headDim / 2 else { throw fail("\(r.count) factors, head_dim \(headDim) needs \(headDim / 2)") }
        let factor = Double(r.max() ?? 1)
        guard factor > 1, r.allSatisfy({ $0.isFinite && $0 >= 1 - 1e-6 }) else {
            throw fail("factors are not a llama3 scaling (max \(factor))")
        }
        // Points in the smooth band give s = (1/r - 1/factor) / (1 - 1/factor) = a / wavelen + b.
        var xs: [Double] = [], ys: [Double] = []
        for (i, v) in r.enumerated() where Double(v) > 1 + 1e-4 && Double(v) < factor * (1 - 1e-4) {
            let freq = 1 / pow(ropeTheta, Double(2 * i) / Double(headDim))
            xs.append(freq / (2 * Double.pi))
            ys.append((1 / Double(v) - 1 / factor) / (1 - 1 / factor))
        }
        guard xs.count >= 2 else { throw fail("too few factors in the smoothing band to recover the llama3 parameters") }
        let n = Double(xs.count)
        let mx = xs.reduce(0, +) / n, my = ys.reduce(0, +) / n
        let sxy = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let sxx = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        let a = sxy / sxx, b = my - a * mx
        // With low_freq_factor 1: b = -1/(hf - 1), a = L/(hf - 1).
        guard b < 0 else { throw fail("factors are not a llama3 scaling") }
        let hf = ((1 - 1 / b) * 1000).rounded() / 1000
        let l = (a * (hf - 1)).rounded()
        let s = RopeScaling(
            ropeType: "llama3", factor: (factor * 1e4).rounded() / 1e4, lowFreqFactor: 1, highFreqFactor: hf,
            originalMaxPositionEmbeddings: Int(l))
        let recomputed = factors(s, ropeTheta: ropeTheta, headDim: headDim)
        for (i, v) in r.enumerated() where abs(recomputed[i] - Double(v)) > 1e-5 * Double(v) {
            throw fail("factor \(i) is \(v), the llama3 rule with \(GGUFModelSource.describe(s)) gives \(recomputed[i])")
        }
        return s
    }
}
