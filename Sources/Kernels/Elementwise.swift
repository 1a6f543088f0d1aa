// Elementwise helpers for the residual stream and gradient bookkeeping.
// N = count of elements.

public enum Elementwise {
    /// out = a + b (out may alias a or b).
    public static func add(
        out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int
    ) {
        Parallel.forChunks(count: (count + 7) / 8, minChunk: 4096) { range, _ in
            var i = range.lowerBound * 8
            let end = min(count, range.upperBound * 8)
            while i + 8 <= end {
                store8(load8(a + i) + load8(b + i), out + i)
                i += 8
            }
            while i < end {
                out[i] = a[i] + b[i]
                i += 1
            }
        }
    }

    /// y += alpha · x
    public static func accumulate(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, alpha: Float = 1, count: Int
    ) {
        Parallel.forChunks(count: (count + 7) / 8, minChunk: 4096) { range, _ in
            let start = range.lowerBound * 8
            axpy(y + start, alpha, x + start, min(count, range.upperBound * 8) - start)
        }
    }

    /// x *= alpha
    public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
        for i in 0..<count { x[i] *= alpha }
    }

    /// x = 0
    public static func zero(_ x: UnsafeMutablePointer<Float>, count: Int) {
        x.update(repeating: 0, count: count)
    }
}
