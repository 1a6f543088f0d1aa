// The check every adapter passes before it is used or exported: all values finite. A NaN or infinity
// (a diverged run, a damaged file) would otherwise flow silently into merged weights or JSON output.

import Model

public enum AdapterValues {
    /// Throws naming the first tensor (PEFT name) that holds a NaN or an infinity, and where.
    public static func requireFinite(_ adapter: LoRAAdapter, path: String) throws {
        let p = adapter.parameters
        // Fast path: one pass over the flat block; only a failure looks up which tensor it was.
        var i = 0
        while i < p.count, p[i].isFinite { i += 1 }
        guard i < p.count else { return }
        for t in adapter.tensorNames {
            let n = t.shape.reduce(1, *)
            guard i >= t.offset, i < t.offset + n else { continue }
            let k = i - t.offset
            throw AdapterError(
                path,
                "tensor \(t.name) holds \(p[i].isNaN ? "NaN" : "an infinity") at element \(k) (row \(k / t.shape[1]), column \(k % t.shape[1])); refusing a non-finite adapter"
            )
        }
        throw AdapterError(path, "adapter value \(i) is not finite; refusing a non-finite adapter")
    }
}
