// LoRA dropout without stored masks: whether element i of a projection's input is kept is a hash of
// (step seed, layer, target, i), so the recomputing backward pass regenerates exactly the forward's mask.

import Kernels
import SeededRandom

struct LoRADropout {
    let seed: UInt64
    let p: Float

    /// Keep when the 24-bit hash is at or above p·2²⁴ (so P(keep) = 1 − p to within 2⁻²⁴).
    private var threshold: UInt64 { UInt64((Double(p) * 16_777_216).rounded()) }

    private func base(_ layer: Int, _ target: LoRATarget) -> UInt64 {
        SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(layer * 8 + target.index + 1) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// out = inp ⊙ mask / (1 − p) over `count` elements (out may alias inp).
    func apply(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, layer: Int, target: LoRATarget) {
        let b = base(layer, target), th = threshold, inv = 1 / (1 - p)
        Parallel.forChunks(count: count, minChunk: 16_384) { range, _ in
            for i in range {
                let keep = (SplitMix64.mix(b &+ UInt64(i)) >> 40) >= th
                out[i] = keep ? inp[i] * inv : 0
            }
        }
    }

    /// dinp += dx ⊙ mask / (1 − p): the input gradient through the dropout.
    func accumulateBackward(dinp: UnsafeMutablePointer<Float>, dx: UnsafePointer<Float>, count: Int, layer: Int, target: LoRATarget) {
        let b = base(layer, target), th = threshold, inv = 1 / (1 - p)
        Parallel.forChunks(count: count, minChunk: 16_384) { range, _ in
            for i in range where (SplitMix64.mix(b &+ UInt64(i)) >> 40) >= th {
                dinp[i] += dx[i] * inv
            }
        }
    }
}
