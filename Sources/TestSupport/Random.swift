// Seeded test data from the package's own SplitMix64 (SeededRandom), the one copy every test target uses.

import SeededRandom

extension SplitMix64 {
    /// Uniform in [-1, 1) with 24 random bits.
    public mutating func float() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }

    /// Uniform in 0..<n.
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
