// Rotary position embeddings, Hugging Face's rotate_half convention (element i pairs with i + Dh/2),
// with the cos/sin table computed the way transformers does it in f32 (default, "linear", "llama3", "longrope" with
// its short or long factors and the attention factor on cos/sin).
// T tokens, Hh heads in the buffer (q heads or kv heads), Dh head dim, P table positions.

import Foundation
import TensorFile

public enum RoPE {
    public struct UnsupportedScaling: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: - Table

    /// Inverse frequencies and a cos/sin table for positions 0..<maxPosition.
    public struct Table: Sendable {
        public let headDim: Int
        public let maxPosition: Int
        public let invFreq: [Float]  // (Dh/2)
        let cos: [Float]  // (P, Dh/2)
        let sin: [Float]  // (P, Dh/2)

        /// `maxPosition` is the longest sequence you will run (not necessarily the model's maximum);
        /// the table costs maxPosition·Dh floats. `long`: LongRoPE's long factors (passes reaching beyond the
        /// original length) instead of its short ones.
        public init(headDim: Int, theta: Double, scaling: RopeScaling?, maxPosition: Int, long: Bool = false) throws(UnsupportedScaling) {
            precondition(headDim > 0 && headDim % 2 == 0 && maxPosition >= 1)
            self.headDim = headDim
            self.maxPosition = maxPosition
            let half = headDim / 2
            // inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)), all f32
            let base = Float(theta)
            var attention: Float = 1  // LongRoPE's attention factor: cos = emb.cos() * attention_scaling
            var inv = (0..<half).map { i -> Float in
                let exponent = Float(2 * i) / Float(headDim)
                return 1 / Float(Foundation.pow(Double(base), Double(exponent)))
            }
            switch scaling?.ropeType {
            case nil, "default":
                break
            case "linear":
                // _compute_linear_scaling_rope_parameters: inv_freq /= factor
                let factor = Float(scaling!.factor)
                inv = inv.map { $0 / factor }
            case "llama3":
                inv = try Self.llama3(inv, scaling!)
            case "longrope":
                // _compute_longrope_parameters: inv_freq = 1.0 / (ext_factors * base**inv_freq_shape), all f32
                guard let ext = long ? scaling!.longFactor : scaling!.shortFactor, ext.count == half else {
                    throw UnsupportedScaling(description: "longrope rope_scaling needs short_factor and long_factor of \(half) numbers")
                }
                inv = (0..<half).map { i in
                    let exponent = Float(2 * i) / Float(headDim)
                    return 1 / (Float(ext[i]) * Float(Foundation.pow(Double(base), Double(exponent))))
                }
                attention = Float(scaling!.attentionFactor ?? 1)
            case let other?:
                throw UnsupportedScaling(description: "rope_scaling type \"\(other)\" is not supported (default, linear, llama3, longrope)")
            }
            invFreq = inv
            var c = [Float](repeating: 0, count: maxPosition * half)
            var s = [Float](repeating: 0, count: maxPosition * half)
            for p in 0..<maxPosition {
                for i in 0..<half {
                    // freqs = inv_freq @ position_ids in f32; emb.cos(), emb.sin()
                    let angle = Float(p) * inv[i]
                    c[p * half + i] = Float(Foundation.cos(Double(angle))) * attention
                    s[p * half + i] = Float(Foundation.sin(Double(angle))) * attention
                }
            }
            cos = c
            sin = s
        }

        /// transformers' _compute_llama3_parameters, op by op in f32 (a python scalar meets an f32 tensor
        /// as f32; `scalar / tensor` is `reciprocal(tensor) * scalar`).
        static func llama3(_ inv: [Float], _ sc: RopeScaling) throws(UnsupportedScaling) -> [Float] {
            guard let low = sc.lowFreqFactor, let high = sc.highFreqFactor, let old = sc.originalMaxPositionEmbeddings,
                sc.factor > 0, high > low
            else {
                throw UnsupportedScaling(
                    description: "llama3 rope_scaling needs factor > 0, low_freq_factor < high_freq_factor and original_max_position_embeddings")
            }
            let factor = Float(sc.factor)
            let lowWavelen = Float(Double(old) / low), highWavelen = Float(Double(old) / high)
            let twoPi = Float(2 * Double.pi)
            return inv.map { f -> Float in
                let wavelen = (1 / f) * twoPi
                // inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
                let llama = wavelen > lowWavelen ? f / factor : f
                // smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
                let smooth = ((1 / wavelen) * Float(old) - Float(low)) / Float(high - low)
                // smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
                let smoothed = (1 - smooth) * llama / factor + smooth * llama
                let medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen)
                return medium ? smoothed : llama
            }
        }
    }

    // MARK: - Forward

    /// Rotates x in place: for each head, (x1, x2) = (x[i], x[i+Dh/2]) →
    /// (x1·cos − x2·sin, x2·cos + x1·sin), as `q * cos + rotate_half(q) * sin`.
    public static func forward(
        x: UnsafeMutablePointer<Float>,  // (T, Hh·Dh)
        positions: UnsafePointer<Int32>,  // (T)
        count: Int, heads: Int, headDim: Int, table: Table
    ) {
        rotate(x, positions, count, heads, headDim, table, inverse: false)
    }

    // MARK: - Backward

    /// The gradient of a rotation is the inverse rotation, applied to dx in place.
    /// Differentiates `y1 = x1·cos − x2·sin; y2 = x2·cos + x1·sin`:
    /// dx1 = dy1·cos + dy2·sin; dx2 = dy2·cos − dy1·sin.
    public static func backward(
        dx: UnsafeMutablePointer<Float>,  // (T, Hh·Dh)
        positions: UnsafePointer<Int32>,  // (T)
        count: Int, heads: Int, headDim: Int, table: Table
    ) {
        rotate(dx, positions, count, heads, headDim, table, inverse: true)
    }

    static func rotate(
        _ x: UnsafeMutablePointer<Float>, _ positions: UnsafePointer<Int32>, _ count: Int, _ heads: Int, _ headDim: Int,
        _ table: Table, inverse: Bool
    ) {
        precondition(headDim == table.headDim, "RoPE table is for head dim \(table.headDim), got \(headDim)")
        let half = headDim / 2
        let width = heads * headDim
        table.cos.withUnsafeBufferPointer { cosBuf in
            table.sin.withUnsafeBufferPointer { sinBuf in
                Parallel.forChunks(count: count, minChunk: max(1, 16_384 / max(1, width))) { range, _ in
                    for t in range {
                        let p = Int(positions[t])
                        precondition(p >= 0 && p < table.maxPosition, "position \(p) is outside the RoPE table (\(table.maxPosition))")
                        let c = cosBuf.baseAddress! + p * half
                        let s = sinBuf.baseAddress! + p * half
                        for h in 0..<heads {
                            let x1 = x + t * width + h * headDim, x2 = x1 + half
                            if inverse {
                                for i in 0..<half {
                                    let a = x1[i], b = x2[i]
                                    x1[i] = a * c[i] + b * s[i]
                                    x2[i] = b * c[i] - a * s[i]
                                }
                            } else {
                                for i in 0..<half {
                                    let a = x1[i], b = x2[i]
                                    x1[i] = a * c[i] + (-b) * s[i]
                                    x2[i] = b * c[i] + a * s[i]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
