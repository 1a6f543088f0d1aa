// LoRA: forward against scale·(inp·Aᵀ)·Bᵀ in Double (added onto an existing output) and the three
// gradients against finite differences.

import Kernels
import Testing

@Suite struct LoRATests {
    @Test(arguments: [(1, 8, 5, 1), (13, 24, 17, 4), (64, 96, 80, 16)])
    func forwardAddsScaledProduct(shape: (Int, Int, Int, Int)) {
        let (m, k, n, r) = shape
        let inp = randomFloats(m * k, seed: 90), a = randomFloats(r * k, seed: 91), b = randomFloats(n * r, seed: 92)
        let base = randomFloats(m * n, seed: 93)
        var out = base
        var tmp = [Float](repeating: .nan, count: m * r)
        LoRA.forward(out: &out, tmp: &tmp, inp: inp, a: a, b: b, scale: 2, m: m, k: k, n: n, r: r)
        let delta = Reference.lora(inp: inp.doubles, a: a.doubles, b: b.doubles, scale: 2, m: m, k: k, n: n, r: r)
        // Sums of k·r products of O(1) values, up to ~100 in size: atol 1e-4, rtol 1e-5.
        expectClose(out, zip(base, delta).map { Double($0) + $1 }, atol: 1e-4, rtol: 1e-5, "out += lora")
        expectClose(tmp, Reference.matmul(inp: inp.doubles, weight: a.doubles, bias: nil, m: m, k: k, n: r), atol: 1e-5, rtol: 1e-5, "tmp")
    }

    // loss = Σ out·r is bilinear in (A, B) and linear in inp: central differences are exact up to
    // rounding. atol 1e-4, rtol 1e-4. All three gradients accumulate onto a start value of 1.
    @Test func backwardMatchesFiniteDifferences() {
        let m = 4, k = 6, n = 5, r = 3
        let scale: Float = 1.5
        let inp = randomFloats(m * k, seed: 94), a = randomFloats(r * k, seed: 95), b = randomFloats(n * r, seed: 96)
        let dout = randomFloats(m * n, seed: 97)
        var out = [Float](repeating: 0, count: m * n), tmp = [Float](repeating: 0, count: m * r)
        LoRA.forward(out: &out, tmp: &tmp, inp: inp, a: a, b: b, scale: scale, m: m, k: k, n: n, r: r)
        var dinp = [Float](repeating: 1, count: m * k), da = [Float](repeating: 1, count: r * k), db = [Float](repeating: 1, count: n * r)
        var dtmp = [Float](repeating: .nan, count: m * r)
        LoRA.backward(dinp: &dinp, da: &da, db: &db, dtmp: &dtmp, dout: dout, inp: inp, a: a, b: b, tmp: tmp, scale: scale, m: m, k: k, n: n, r: r)
        func loss(_ i: [Double], _ a: [Double], _ b: [Double]) -> Double {
            weighted(Reference.lora(inp: i, a: a, b: b, scale: Double(scale), m: m, k: k, n: n, r: r), dout.doubles)
        }
        expectClose(
            dinp, centralDifferences(inp.doubles, eps: 1e-3) { loss($0, a.doubles, b.doubles) }.map { $0 + 1 }, atol: 1e-4, rtol: 1e-4, "dinp")
        expectClose(da, centralDifferences(a.doubles, eps: 1e-3) { loss(inp.doubles, $0, b.doubles) }.map { $0 + 1 }, atol: 1e-4, rtol: 1e-4, "da")
        expectClose(db, centralDifferences(b.doubles, eps: 1e-3) { loss(inp.doubles, a.doubles, $0) }.map { $0 + 1 }, atol: 1e-4, rtol: 1e-4, "db")
    }
}
