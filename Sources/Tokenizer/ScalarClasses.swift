// UTF-8 decoding and the Unicode classes the pre-tokenizer rules use (\p{L}, \p{N}, \s), plus the
// \w test of single_word added tokens, from Swift's Unicode tables with an ASCII fast path.

// MARK: - Decoding (the input is a Swift string, so its UTF-8 is valid)

/// The scalar starting at byte `i` and its length in bytes.
@inline(__always)
func scalar(_ p: UnsafePointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2) }
    if b0 < 0xF0 {
        return ((b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F), 3)
    }
    let v = (b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F)
    return (v, 4)
}

/// The start of the scalar that ends at byte `i` (exclusive), stepping back over continuation bytes.
@inline(__always)
func scalarStart(before i: Int, _ p: UnsafePointer<UInt8>) -> Int {
    var j = i - 1
    while p[j] & 0xC0 == 0x80 { j -= 1 }
    return j
}

// MARK: - Classes

/// The one class of a scalar that the pre-tokenizer regexes distinguish; the alternatives of every
/// rule are disjoint in these, so a rule is a run of one kind.
enum Kind: UInt8 {
    /// [^\s\p{L}\p{N}]: punctuation, symbols, marks, controls that are not white space.
    case other
    /// \p{L}: Lu, Ll, Lt, Lm, Lo.
    case letter
    /// \p{N}: Nd, Nl, No.
    case number
    /// \s: the White_Space property.
    case space
}

@inline(__always)
func kind(of v: UInt32) -> Kind {
    if v < 0x80 {
        if v >= 0x61 && v <= 0x7A || v >= 0x41 && v <= 0x5A { return .letter }
        if v >= 0x30 && v <= 0x39 { return .number }
        if v == 0x20 || v >= 0x09 && v <= 0x0D { return .space }
        return .other
    }
    if v < 0x10000 { return Kind(rawValue: basicPlaneKinds[Int(v)]).unsafelyUnwrapped }
    return kindFromProperties(v)
}

/// The kinds of U+0000...U+FFFF, looked up once (the Unicode property calls are the slow part).
/// Never freed; 64 KiB. nonisolated(unsafe): written only inside its one-time initializer, read-only after.
nonisolated(unsafe) private let basicPlaneKinds: UnsafePointer<UInt8> = {
    let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
    for v in 0..<0x10000 {
        // Surrogate code points are not scalars and never occur in a String.
        table[v] = (0xD800..<0xE000).contains(v) ? Kind.other.rawValue : kindFromProperties(UInt32(v)).rawValue
    }
    return UnsafePointer(table)
}()

@inline(never)
func kindFromProperties(_ v: UInt32) -> Kind {
    let properties = Unicode.Scalar(v).unsafelyUnwrapped.properties
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return properties.isWhitespace ? .space : .other
    }
}

/// The kind and byte length of the scalar at byte `i`.
@inline(__always)
func kind(_ p: UnsafePointer<UInt8>, _ i: Int) -> (kind: Kind, length: Int) {
    let (v, n) = scalar(p, i)
    return (kind(of: v), n)
}

/// Rust regex's \w, which tokenizers uses to decide whether a single_word added token stands alone:
/// Alphabetic, marks (Mn, Mc, Me), Nd, Pc and Join_Control.
func isWordScalar(_ v: UInt32) -> Bool {
    if v < 0x80 {
        return v >= 0x61 && v <= 0x7A || v >= 0x41 && v <= 0x5A || v >= 0x30 && v <= 0x39 || v == 0x5F
    }
    let properties = Unicode.Scalar(v).unsafelyUnwrapped.properties
    if properties.isAlphabetic || properties.isJoinControl { return true }
    switch properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
}

/// \s in tokenizers' added-token stripping (Rust regex, the White_Space property).
@inline(__always)
func isSpaceScalar(_ v: UInt32) -> Bool {
    if v < 0x80 { return v == 0x20 || v >= 0x09 && v <= 0x0D }
    return Unicode.Scalar(v).unsafelyUnwrapped.properties.isWhitespace
}
