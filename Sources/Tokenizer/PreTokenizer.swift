// The pre-tokenizers: hand-written scanners over UTF-8 that split text exactly as the regexes that
// Hugging Face tokenizers (Oniguruma) and llama.cpp use. No regex engine: each rule is a forward scan.
//
//   gpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   smollm every \p{N} scalar on its own first (Digits(individual_digits)), then gpt2 inside each piece
//   llama3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//          \s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2  llama3 with \p{N} one scalar at a time

public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2, smollm, llama3, qwen2

    /// The pieces of `text`, in order; joined they give `text` back.
    public func split(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return [] }
            var pieces: [String] = []
            forEachPiece(base, 0, buffer.count) { range in
                pieces.append(
                    String(
                        decoding: UnsafeBufferPointer(start: base + range.lowerBound, count: range.count), as: UTF8.self
                    ))
            }
            return pieces
        }
    }

    /// Calls `body` with the byte range of each piece of `p[start..<end]`, in order.
    @inline(__always)
    func forEachPiece(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ body: (Range<Int>) -> Void) {
        switch self {
        case .gpt2:
            var i = start
            while i < end {
                let e = Scan.gpt2(p, i, end)
                body(i..<e)
                i = e
            }
        case .smollm:
            var i = start
            while i < end {
                var numberAt = i
                var numberLength = 0
                while numberAt < end {
                    let (k, n) = kind(p, numberAt)
                    if k == .number {
                        numberLength = n
                        break
                    }
                    numberAt += n
                }
                while i < numberAt {
                    let e = Scan.gpt2(p, i, numberAt)
                    body(i..<e)
                    i = e
                }
                if numberLength > 0 {
                    body(numberAt..<numberAt + numberLength)
                    i = numberAt + numberLength
                }
            }
        case .llama3, .qwen2:
            let maxDigits = self == .llama3 ? 3 : 1
            var i = start
            while i < end {
                let e = Scan.llama3(p, i, end, maxDigits: maxDigits)
                body(i..<e)
                i = e
            }
        }
    }
}

// MARK: - Scanners: each returns the end of the match that starts at byte i (i < end)

enum Scan {
    static let apostrophe: UInt8 = 0x27
    static let space: UInt8 = 0x20

    /// The end of the run of `k` scalars that starts at `i`.
    @inline(__always)
    static func run(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ k: Kind, max: Int = .max) -> Int {
        var j = i
        var count = 0
        while j < end && count < max {
            let (kj, n) = kind(p, j)
            if kj != k { break }
            j += n
            count += 1
        }
        return j
    }

    @inline(__always)
    static func isNewline(_ b: UInt8) -> Bool { b == 0x0A || b == 0x0D }

    static func gpt2(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let b = p[i]
        // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
        if b == apostrophe && i + 1 < end {
            switch p[i + 1] {
            case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return i + 2
            case UInt8(ascii: "r"), UInt8(ascii: "v"):
                if i + 2 < end && p[i + 2] == UInt8(ascii: "e") { return i + 3 }
            case UInt8(ascii: "l"):
                if i + 2 < end && p[i + 2] == UInt8(ascii: "l") { return i + 3 }
            default: break
            }
        }
        //  ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+ : an optional space, then a run of one kind
        var (k, _) = kind(p, i)
        var start = i
        if b == space && i + 1 < end {
            let (next, _) = kind(p, i + 1)
            if next != .space {
                k = next
                start = i + 1
            }
        }
        if k != .space { return run(p, start, end, k) }
        // \s+(?!\S)|\s+ : a white-space run leaves its last scalar to the next word
        var j = i
        var last = i
        while j < end {
            let (kj, n) = kind(p, j)
            if kj != .space { break }
            last = j
            j += n
        }
        if j == end { return end }
        return last > i ? last : j
    }

    static func llama3(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        let b = p[i]
        // (?i:'s|'t|'re|'ve|'m|'ll|'d): case folding adds only U+017F (long s) to these letters
        if b == apostrophe && i + 1 < end {
            let (c, n) = scalar(p, i + 1)
            switch c {
            case 0x73, 0x53, 0x17F, 0x74, 0x54, 0x6D, 0x4D, 0x64, 0x44: return i + 1 + n
            case 0x72, 0x52, 0x76, 0x56:
                if i + 2 < end && p[i + 2] | 0x20 == UInt8(ascii: "e") { return i + 3 }
            case 0x6C, 0x4C:
                if i + 2 < end && p[i + 2] | 0x20 == UInt8(ascii: "l") { return i + 3 }
            default: break
            }
        }
        let (k, n) = kind(p, i)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if k == .letter { return run(p, i, end, .letter) }
        if k != .number && !isNewline(b) && i + n < end && kind(p, i + n).kind == .letter {
            return run(p, i + n, end, .letter)
        }
        // \p{N}{1,3} (llama3) or \p{N} (qwen2)
        if k == .number { return run(p, i, end, .number, max: maxDigits) }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        var start = i
        var startKind = k
        if b == space && i + 1 < end && kind(p, i + 1).kind == .other {
            start = i + 1
            startKind = .other
        }
        if startKind == .other {
            var j = run(p, start, end, .other)
            while j < end && isNewline(p[j]) { j += 1 }
            return j
        }
        // \s*[\r\n]+ : up to the last newline of the white-space run; else \s+(?!\S)|\s+ as in gpt2
        var j = i
        var last = i
        var afterNewline = -1
        while j < end {
            let (kj, nj) = kind(p, j)
            if kj != .space { break }
            if isNewline(p[j]) { afterNewline = j + 1 }
            last = j
            j += nj
        }
        if afterNewline >= 0 { return afterNewline }
        if j == end { return end }
        return last > i ? last : j
    }
}
