// Small SIMD building blocks shared by the kernels: dot products, sums, maxima and a vectorised exp.
// Internal; not a general math library.

// MARK: - Loads and stores

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

// MARK: - Reductions

/// Σ a[i]·b[i] in f32 with eight-lane partial sums.
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        acc0 += load8(a + i) * load8(b + i)
        acc1 += load8(a + i + 8) * load8(b + i + 8)
        i += 16
    }
    if i + 8 <= n {
        acc0 += load8(a + i) * load8(b + i)
        i += 8
    }
    var s = (acc0 + acc1).sum()
    while i < n {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// max over n ≥ 1 values (NaNs are not propagated).
@inline(__always) func maximum(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var m = a[0]
    if n >= 8 {
        var acc = load8(a)
        i = 8
        while i + 8 <= n {
            let v = load8(a + i)
            acc.replace(with: v, where: v .> acc)  // (pointwiseMax is 5× slower)
            i += 8
        }
        m = acc.max()
    }
    while i < n {
        m = max(m, a[i])
        i += 1
    }
    return m
}

/// y[i] += alpha · x[i]
@inline(__always) func axpy(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        store8(load8(y + i) + alpha * load8(x + i), y + i)
        i += 8
    }
    while i < n {
        y[i] += alpha * x[i]
        i += 1
    }
}

/// a[i] *= alpha
@inline(__always) func scale(_ a: UnsafeMutablePointer<Float>, _ alpha: Float, _ n: Int) {
    var i = 0
    while i + 8 <= n {
        store8(alpha * load8(a + i), a + i)
        i += 8
    }
    while i < n {
        a[i] *= alpha
        i += 1
    }
}

// MARK: - exp

// Cephes-style expf: n = round(x·log2 e) by the 1.5·2^23 trick (whose low mantissa bits then hold n),
// r = x − n·ln 2 (ln 2 split in two constants), a degree-6 polynomial for e^r, and 2^n built in the
// exponent bits. Within 2 ulp of expf on [-87.33, 88.37]; 0 below that range, and clamped to
// e^88.37 ≈ 2.4e38 above it. The scalar and SIMD versions run the same arithmetic lane by lane, so a
// value does not depend on where it sits in a buffer. (Written with masks and bit casts only: Swift's
// generic SIMD float→int conversion is scalarised and was 30× slower.)

@inline(__always) func fastExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -87.336_54), hi = SIMD8<Float>(repeating: 88.376_26)
    var xc = x
    xc.replace(with: lo, where: x .< lo)
    xc.replace(with: hi, where: x .> hi)
    let t = xc * 1.442_695_04 + 12_582_912.0
    let n = t - 12_582_912.0
    var r = xc - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * (r * r) + r + 1
    let bits = (unsafeBitCast(t, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    var out = y * unsafeBitCast(bits, to: SIMD8<Float>.self)
    out.replace(with: 0, where: x .< lo)
    return out
}

@inline(__always) func fastExp(_ x: Float) -> Float {
    if x < -87.336_54 { return 0 }
    let xc = min(x, 88.376_26)
    let t = xc * 1.442_695_04 + 12_582_912.0
    let n = t - 12_582_912.0
    var r = xc - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let y = p * (r * r) + r + 1
    return y * Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
}

/// a[i] = exp(a[i] − shift) for i < n, returning Σ of the new values (f32, eight-lane partial sums).
@inline(__always) func expShiftSum(_ a: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let e = fastExp(load8(a + i) - shift)
        store8(e, a + i)
        acc += e
        i += 8
    }
    var s = acc.sum()
    while i < n {
        let e = fastExp(a[i] - shift)
        a[i] = e
        s += e
        i += 1
    }
    return s
}
