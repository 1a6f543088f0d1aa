// Test helpers for the kernel tests: seeded random data, tolerance checks and finite differences.

import Foundation

/// A small deterministic generator (SplitMix64), so every test sees the same numbers on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Uniform values in [-scale, scale).
func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale..<scale, using: &g) }
}
