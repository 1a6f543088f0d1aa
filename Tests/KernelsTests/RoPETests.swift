// RoPE: the table's inverse frequencies against the direct formulas (default, linear, llama3), the
// rotation against the direct formula and against transformers' f32 recipe, and the backward pass.

import Foundation
import Kernels
import TensorFile
import Testing

@Suite struct RoPETests {
    static let llama3 = RopeScaling(
        ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192)

    // Llama 3's head dim 128 with theta 500000 puts frequencies in all three llama3 regions (wavelengths
    // from 6 to 5e5 against the 2048 and 8192 thresholds). f32 pow/divide vs Double: rtol 1e-6.
    @Test(arguments: [("default", 64, 10_000.0), ("linear", 64, 10_000.0), ("llama3", 128, 500_000.0), ("default", 64, 100_000.0)])
    func inverseFrequenciesMatchFormula(kind: String, headDim: Int, theta: Double) throws {
        let scaling: RopeScaling? =
            switch kind {
            case "linear": RopeScaling(ropeType: "linear", factor: 4)
            case "llama3": Self.llama3
            default: nil
            }
        let table = try RoPE.Table(headDim: headDim, theta: theta, scaling: scaling, maxPosition: 4)
        let expected = Reference.ropeInverseFrequencies(headDim: headDim, theta: theta, scaling: scaling)
        expectClose(table.invFreq, expected, atol: 0, rtol: 1e-6, "\(kind) inv_freq")
    }

    @Test func unsupportedScalingThrows() {
        #expect(throws: RoPE.UnsupportedScaling.self) {
            _ = try RoPE.Table(headDim: 8, theta: 1e4, scaling: RopeScaling(ropeType: "yarn", factor: 2), maxPosition: 8)
        }
    }

    // Against the Double formula the only error is f32's angle (position · f32 inv_freq, as transformers
    // computes it): at positions < 2000 that is < 3e-4 rad, so atol 1e-3 on |x| ≤ 1; at positions < 64 the
    // angle error is < 1e-5 and atol 2e-5. Against transformers' own f32 recipe (cos of the f32 angle) the
    // kernel must agree to rounding: atol 1e-6.
    @Test(arguments: [false, true])
    func forwardMatchesFormula(llama3: Bool) throws {
        let heads = 3, dh = 16, t = 9
        let table = try RoPE.Table(headDim: dh, theta: 10_000, scaling: llama3 ? Self.llama3 : nil, maxPosition: 2000)
        let x = randomFloats(t * heads * dh, seed: 50)
        for (positions, atol) in [([0, 1, 2, 3, 5, 8, 13, 21, 63], Float(2e-5)), ([0, 7, 100, 511, 1000, 1500, 1999, 1998, 4], 1e-3)] {
            var y = x
            let pos = positions.map(Int32.init)
            RoPE.forward(x: &y, positions: pos, count: t, heads: heads, headDim: dh, table: table)
            let inv = Reference.ropeInverseFrequencies(headDim: dh, theta: 10_000, scaling: llama3 ? Self.llama3 : nil)
            expectClose(
                y, Reference.rope(x: x.doubles, positions: positions, heads: heads, headDim: dh, invFreq: inv), atol: atol, rtol: 0,
                "rotation vs formula")

            // transformers: freqs = inv_freq(f32) · position(f32) in f32, then cos/sin; q*cos + rotate_half(q)*sin.
            var hf = x
            for (ti, p) in positions.enumerated() {
                for h in 0..<heads {
                    for i in 0..<(dh / 2) {
                        let angle = Float(p) * table.invFreq[i]
                        let c = Float(cos(Double(angle))), s = Float(sin(Double(angle)))
                        let o = ti * heads * dh + h * dh
                        hf[o + i] = x[o + i] * c + (-x[o + i + dh / 2]) * s
                        hf[o + i + dh / 2] = x[o + i + dh / 2] * c + x[o + i] * s
                    }
                }
            }
            expectClose(y, hf.doubles, atol: 1e-6, rtol: 0, "rotation vs transformers' f32 recipe")
        }
    }

    // The rotation is linear, so central differences are exact up to rounding: atol 1e-5. Also the
    // backward of the forward is the identity (rotation then inverse rotation), to 1e-6.
    @Test func backwardMatchesFiniteDifferences() throws {
        let heads = 2, dh = 6, t = 4
        let table = try RoPE.Table(headDim: dh, theta: 10_000, scaling: nil, maxPosition: 50)
        let positions: [Int32] = [3, 0, 49, 17]
        let x = randomFloats(t * heads * dh, seed: 51), r = randomFloats(t * heads * dh, seed: 52)
        var dx = r
        RoPE.backward(dx: &dx, positions: positions, count: t, heads: heads, headDim: dh, table: table)
        let g = centralDifferences(x.doubles, eps: 1e-3) {
            weighted(Reference.rope(x: $0, positions: positions.map(Int.init), heads: heads, headDim: dh, invFreq: table.invFreq.doubles), r.doubles)
        }
        expectClose(dx, g, atol: 1e-5, rtol: 0, "dx")

        var y = x
        RoPE.forward(x: &y, positions: positions, count: t, heads: heads, headDim: dh, table: table)
        RoPE.backward(dx: &y, positions: positions, count: t, heads: heads, headDim: dh, table: table)
        expectClose(y, x.doubles, atol: 1e-6, rtol: 0, "inverse rotation")
    }
}
