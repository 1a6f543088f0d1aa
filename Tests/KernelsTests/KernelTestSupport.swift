// Test helpers for the kernel tests: seeded random data, tolerance checks and finite differences.

import Foundation
import SeededRandom
import Testing
import TestSupport

/// Uniform values in [-scale, scale).
func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale..<scale, using: &g) }
}

extension Array where Element == Float {
    var doubles: [Double] { map(Double.init) }
}

extension Array where Element == Double {
    var floats: [Float] { map(Float.init) }
}

// MARK: - Comparisons

/// Expects `actual` within atol + rtol·|expected| everywhere, reporting the worst ratio.
func expectClose(
    _ actual: [Float], _ expected: [Double], atol: Float, rtol: Float, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let r = toleranceRatio(actual, expected.floats, atol: atol, rtol: rtol)
    #expect(r <= 1, "\(what): worst |a−b| / (atol + rtol·|b|) = \(r)", sourceLocation: sourceLocation)
}

// MARK: - Finite differences

/// ∂f/∂x by central differences in Double: (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps for every i.
func centralDifferences(_ x: [Double], eps: Double, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var g = [Double](repeating: 0, count: x.count)
    for i in x.indices {
        let o = x[i]
        x[i] = o + eps
        let plus = f(x)
        x[i] = o - eps
        let minus = f(x)
        x[i] = o
        g[i] = (plus - minus) / (2 * eps)
    }
    return g
}

/// Σ y·w: a scalar loss whose gradient with respect to y is w (the `dout` fed to backward).
func weighted(_ y: [Double], _ w: [Double]) -> Double {
    precondition(y.count == w.count)
    var s = 0.0
    for i in y.indices { s += y[i] * w[i] }
    return s
}

// MARK: - Reference quantizers (ggml-quants.c quantize_row_*_ref)

/// Q8_0: d = amax/127, q = round(x/d).
func quantizeQ8_0(_ x: [Float]) -> [UInt8] {
    precondition(x.count % 32 == 0)
    var out: [UInt8] = []
    for b in stride(from: 0, to: x.count, by: 32) {
        let block = x[b..<(b + 32)]
        let amax = block.map(abs).max()!
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        appendHalf(&out, d)
        for v in block { out.append(UInt8(bitPattern: Int8((v * id).rounded()))) }
    }
    return out
}

/// Q4_0: max = the signed value of largest magnitude, d = max / −8, q = min(15, Int8(x/d + 8.5)).
func quantizeQ4_0(_ x: [Float]) -> [UInt8] {
    precondition(x.count % 32 == 0)
    var out: [UInt8] = []
    for b in stride(from: 0, to: x.count, by: 32) {
        var amax: Float = 0, mx: Float = 0
        for j in 0..<32 where abs(x[b + j]) > amax {
            amax = abs(x[b + j])
            mx = x[b + j]
        }
        let d = mx / -8
        let id: Float = d != 0 ? 1 / d : 0
        appendHalf(&out, d)
        for j in 0..<16 {
            let q0 = min(15, UInt8(Int8(x[b + j] * id + 8.5)))
            let q1 = min(15, UInt8(Int8(x[b + j + 16] * id + 8.5)))
            out.append(q0 | q1 << 4)
        }
    }
    return out
}

/// Q4_1: d = (max − min)/15, m = min, q = min(15, Int8((x − min)/d + 0.5)).
func quantizeQ4_1(_ x: [Float]) -> [UInt8] {
    precondition(x.count % 32 == 0)
    var out: [UInt8] = []
    for b in stride(from: 0, to: x.count, by: 32) {
        let block = x[b..<(b + 32)]
        let lo = block.min()!, hi = block.max()!
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        appendHalf(&out, d)
        appendHalf(&out, lo)
        for j in 0..<16 {
            let q0 = min(15, UInt8(Int8((x[b + j] - lo) * id + 0.5)))
            let q1 = min(15, UInt8(Int8((x[b + j + 16] - lo) * id + 0.5)))
            out.append(q0 | q1 << 4)
        }
    }
    return out
}

private func appendHalf(_ out: inout [UInt8], _ v: Float) {
    let bits = Float16(v).bitPattern
    out.append(UInt8(bits & 0xFF))
    out.append(UInt8(bits >> 8))
}
