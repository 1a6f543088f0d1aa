// Splits template source into tokens exactly as jinja2's lexer does for transformers' environment:
// trim_blocks (drop one newline after `%}` and `#}`), lstrip_blocks (drop a line's indentation before
// `{%` and `{#`), `-`/`+` whitespace control, raw blocks, and newline normalization with the single
// trailing newline removed (keep_trailing_newline=False).

// MARK: - Tokens

enum TokenKind: Equatable {
    case data(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case eof
}

struct Token {
    var kind: TokenKind
    var line: Int
}

// MARK: - Lexer

struct Lexer {
    private let src: Scalars
    private var pos = 0
    private var tokens: [Token] = []
    /// Whether the previous match ended a line (jinja2's `line_starting`), for lstrip_blocks.
    private var lineStarting = true
    /// Offsets of every "\n", to turn an offset into a line number.
    private let newlines: [Int]

    init(_ source: String) {
        // Normalize \r\n and \r to \n and drop one trailing newline, as jinja2's tokeniter does.
        var s: Scalars = []
        let raw = PyText.scalars(source)
        var i = 0
        while i < raw.count {
            if raw[i] == "\r" {
                s.append("\n")
                if i + 1 < raw.count, raw[i + 1] == "\n" { i += 1 }
            } else {
                s.append(raw[i])
            }
            i += 1
        }
        if s.last == "\n" { s.removeLast() }
        src = s
        newlines = s.indices.filter { s[$0] == "\n" }
    }

    private func line(at offset: Int) -> Int {
        var lo = 0
        var hi = newlines.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if newlines[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo + 1
    }

    private func fail(_ message: String, at offset: Int) -> ChatTemplateError {
        ChatTemplateError(.syntax, line: line(at: offset), message)
    }

    private func startsWith(_ text: String, at p: Int) -> Bool {
        var i = p
        for c in text.unicodeScalars {
            guard i < src.count, src[i] == c else { return false }
            i += 1
        }
        return true
    }

    private func skipSpace(from p: Int) -> Int {
        var i = p
        while i < src.count, PyText.isSpace(src[i]) { i += 1 }
        return i
    }

    // MARK: - Root state

    private enum TagKind { case variable, block, comment, raw }

    /// The next tag start at or after `from`: its offset, kind, whitespace sign, and where its body begins.
    private func nextTag(from: Int) -> (start: Int, kind: TagKind, sign: Unicode.Scalar?, bodyStart: Int)? {
        var i = from
        while i + 1 < src.count {
            if src[i] == "{" {
                let kind: TagKind?
                switch src[i + 1] {
                case "{": kind = .variable
                case "%": kind = .block
                case "#": kind = .comment
                default: kind = nil
                }
                if let kind {
                    var body = i + 2
                    var sign: Unicode.Scalar?
                    if body < src.count, src[body] == "-" || src[body] == "+" {
                        sign = src[body]
                        body += 1
                    }
                    if kind == .block, let rawEnd = rawBegin(at: body) {
                        return (i, .raw, sign, rawEnd)
                    }
                    return (i, kind, sign, body)
                }
            }
            i += 1
        }
        return nil
    }

    /// `\s*raw\s*(-%}\s*|%})` after `{%`: returns where the raw body starts.
    private func rawBegin(at p: Int) -> Int? {
        var i = skipSpace(from: p)
        guard startsWith("raw", at: i) else { return nil }
        i = skipSpace(from: i + 3)
        if startsWith("-%}", at: i) { return skipSpace(from: i + 3) }
        if startsWith("%}", at: i) { return i + 2 }
        return nil
    }

    /// Emits the data before a tag, applying `-` (strip all) or lstrip_blocks (strip the line's indentation).
    private mutating func emitData(_ range: Range<Int>, sign: Unicode.Scalar?, lstrip: Bool) {
        let lo = range.lowerBound
        var hi = range.upperBound
        if sign == "-" {
            while hi > lo, PyText.isSpace(src[hi - 1]) { hi -= 1 }
        } else if sign != "+" && lstrip {
            var lineStart = hi
            while lineStart > lo, src[lineStart - 1] != "\n" { lineStart -= 1 }
            if lineStart > lo || lineStarting {
                if lineStart < hi, src[lineStart..<hi].allSatisfy(PyText.isSpace) { hi = lineStart }
            }
        }
        if hi > lo { tokens.append(Token(kind: .data(PyText.string(src[lo..<hi])), line: line(at: lo))) }
    }

    mutating func tokenize() throws(ChatTemplateError) -> [Token] {
        while pos < src.count {
            guard let tag = nextTag(from: pos) else {
                tokens.append(Token(kind: .data(PyText.string(src[pos...])), line: line(at: pos)))
                break
            }
            emitData(pos..<tag.start, sign: tag.sign, lstrip: tag.kind != .variable)
            lineStarting = false
            pos = tag.bodyStart
            switch tag.kind {
            case .comment: try lexComment(start: tag.start)
            case .raw:
                lineStarting = pos > 0 && src[pos - 1] == "\n"
                try lexRaw(start: tag.start)
            case .variable:
                tokens.append(Token(kind: .variableBegin, line: line(at: tag.start)))
                try lexTag(block: false, start: tag.start)
            case .block:
                tokens.append(Token(kind: .blockBegin, line: line(at: tag.start)))
                try lexTag(block: true, start: tag.start)
            }
        }
        tokens.append(Token(kind: .eof, line: line(at: src.count)))
        return tokens
    }

    // MARK: - Comments and raw blocks

    /// The end of a block or comment tag at `p`: `+X}` keeps whitespace, `-X}` eats all that follows,
    /// plain `X}` eats one newline (trim_blocks). Returns the offset after it.
    private func tagEnd(_ marker: Unicode.Scalar, at p: Int) -> Int? {
        let plain = String(marker) + "}"
        if startsWith("+" + plain, at: p) { return p + 3 }
        if startsWith("-" + plain, at: p) { return skipSpace(from: p + 3) }
        if startsWith(plain, at: p) {
            let after = p + 2
            return after < src.count && src[after] == "\n" ? after + 1 : after
        }
        return nil
    }

    private mutating func lexComment(start: Int) throws(ChatTemplateError) {
        var i = pos
        while i < src.count {
            if let end = tagEnd("#", at: i) {
                pos = end
                lineStarting = src[end - 1] == "\n"
                return
            }
            i += 1
        }
        throw fail("Missing end of comment tag", at: start)
    }

    private mutating func lexRaw(start: Int) throws(ChatTemplateError) {
        var i = pos
        while i + 1 < src.count {
            if src[i] == "{", src[i + 1] == "%" {
                var j = i + 2
                var sign: Unicode.Scalar?
                if j < src.count, src[j] == "-" || src[j] == "+" {
                    sign = src[j]
                    j += 1
                }
                j = skipSpace(from: j)
                if startsWith("endraw", at: j) {
                    j = skipSpace(from: j + 6)
                    if let end = tagEnd("%", at: j) {
                        emitData(pos..<i, sign: sign, lstrip: true)
                        pos = end
                        lineStarting = src[end - 1] == "\n"
                        return
                    }
                }
            }
            i += 1
        }
        throw fail("Missing end of raw directive", at: start)
    }

    // MARK: - Inside {{ }} and {% %}

    private static let operators = [
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    private mutating func lexTag(block: Bool, start: Int) throws(ChatTemplateError) {
        var balance: [Unicode.Scalar] = []
        while true {
            guard pos < src.count else {
                throw fail("unexpected end of template, expected '\(block ? "%}" : "}}")'", at: start)
            }
            if balance.isEmpty {
                if block, let end = tagEnd("%", at: pos) {
                    tokens.append(Token(kind: .blockEnd, line: line(at: pos)))
                    pos = end
                    lineStarting = src[end - 1] == "\n"
                    return
                }
                if !block {
                    if startsWith("-}}", at: pos) {
                        tokens.append(Token(kind: .variableEnd, line: line(at: pos)))
                        pos = skipSpace(from: pos + 3)
                        lineStarting = src[pos - 1] == "\n"
                        return
                    }
                    if startsWith("}}", at: pos) {
                        tokens.append(Token(kind: .variableEnd, line: line(at: pos)))
                        pos += 2
                        lineStarting = false
                        return
                    }
                }
            }
            let c = src[pos]
            let here = line(at: pos)
            if PyText.isSpace(c) {
                pos += 1
            } else if let (value, end) = lexFloat(at: pos) {
                tokens.append(Token(kind: .float(value), line: here))
                pos = end
            } else if let (value, end) = try lexInteger(at: pos) {
                tokens.append(Token(kind: .integer(value), line: here))
                pos = end
            } else if c == "_" || PyText.isAlpha(c) {
                var end = pos + 1
                while end < src.count, src[end] == "_" || PyText.isAlpha(src[end]) || PyText.isDecimal(src[end]) {
                    end += 1
                }
                tokens.append(Token(kind: .name(PyText.string(src[pos..<end])), line: here))
                pos = end
            } else if c == "'" || c == "\"" {
                var end = pos + 1
                while end < src.count, src[end] != c {
                    end += src[end] == "\\" ? 2 : 1
                }
                guard end < src.count else { throw fail("unexpected char \(PyFormat.stringRepr(String(c)))", at: pos) }
                let body = src[(pos + 1)..<end]
                do {
                    tokens.append(Token(kind: .string(try Lexer.unescape(body)), line: here))
                } catch {
                    throw fail(error.message, at: pos)
                }
                pos = end + 1
            } else if let op = Lexer.operators.first(where: { startsWith($0, at: pos) }) {
                let o = op.unicodeScalars.first!
                switch o {
                case "{": balance.append("}")
                case "(": balance.append(")")
                case "[": balance.append("]")
                case "}", ")", "]":
                    guard let expected = balance.popLast() else { throw fail("unexpected '\(op)'", at: pos) }
                    guard expected == o else { throw fail("unexpected '\(op)', expected '\(expected)'", at: pos) }
                default: break
                }
                tokens.append(Token(kind: .op(op), line: here))
                pos += op.unicodeScalars.count
            } else {
                throw fail("unexpected char \(PyFormat.stringRepr(String(c))) at \(pos)", at: pos)
            }
        }
    }

    // MARK: - Numbers

    private func digitRun(at p: Int) -> Int {
        // (\d+_)*\d+ : digits, optionally separated by single underscores
        var i = p
        guard i < src.count, PyText.isAsciiDigit(src[i]) else { return p }
        while i < src.count {
            if PyText.isAsciiDigit(src[i]) {
                i += 1
            } else if src[i] == "_", i + 1 < src.count, PyText.isAsciiDigit(src[i + 1]) {
                i += 1
            } else {
                break
            }
        }
        return i
    }

    /// jinja2's float_re: digits, then a fraction and/or an exponent, never right after a '.'.
    private func lexFloat(at p: Int) -> (Double, Int)? {
        if p > 0, src[p - 1] == "." { return nil }
        let intEnd = digitRun(at: p)
        guard intEnd > p else { return nil }
        var i = intEnd
        var hasFraction = false
        if i < src.count, src[i] == "." {
            let f = digitRun(at: i + 1)
            if f > i + 1 {
                hasFraction = true
                i = f
            }
        }
        var hasExponent = false
        if i < src.count, src[i] == "e" || src[i] == "E" {
            var j = i + 1
            if j < src.count, src[j] == "+" || src[j] == "-" { j += 1 }
            let e = digitRun(at: j)
            if e > j {
                hasExponent = true
                i = e
            }
        }
        guard hasFraction || hasExponent else { return nil }
        let text = PyText.string(src[p..<i].filter { $0 != "_" })
        guard let d = Double(text) else { return nil }
        return (d, i)
    }

    /// jinja2's integer_re: 0b/0o/0x prefixes, a decimal not starting with 0, or zeros.
    private func lexInteger(at p: Int) throws(ChatTemplateError) -> (Int, Int)? {
        guard PyText.isAsciiDigit(src[p]) else { return nil }
        var radix = 10
        var i = p
        if src[p] == "0", p + 1 < src.count, let r = ["b": 2, "B": 2, "o": 8, "O": 8, "x": 16, "X": 16][Character(src[p + 1])] {
            var j = p + 2
            var digits = ""
            while j < src.count {
                if src[j] == "_", j + 1 < src.count, Int(String(src[j + 1]), radix: r) != nil {
                    j += 1
                    continue
                }
                guard Int(String(src[j]), radix: r) != nil else { break }
                digits.unicodeScalars.append(src[j])
                j += 1
            }
            if !digits.isEmpty {
                guard let v = Int(digits, radix: r) else { throw fail("integer literal too large", at: p) }
                return (v, j)
            }
            radix = 10
        }
        if src[p] == "0" {
            i = p + 1
            while i < src.count {
                if src[i] == "0" {
                    i += 1
                } else if src[i] == "_", i + 1 < src.count, src[i + 1] == "0" {
                    i += 1
                } else {
                    break
                }
            }
            return (0, i)
        }
        i = digitRun(at: p)
        guard let v = Int(PyText.string(src[p..<i].filter { $0 != "_" }), radix: radix) else {
            throw fail("integer literal too large", at: p)
        }
        return (v, i)
    }

    // MARK: - String literal escapes

    /// Python's "unicode-escape" decoding, which jinja2 applies to string literals. Unknown escapes
    /// keep their backslash.
    static func unescape(_ body: ArraySlice<Unicode.Scalar>) throws(TemplateFailure) -> String {
        let a = Array(body)
        var out = String.UnicodeScalarView()
        var i = 0
        func hex(_ count: Int, _ what: String) throws(TemplateFailure) -> Unicode.Scalar {
            guard i + count < a.count + 1 else { throw TemplateFailure(.syntax, "truncated \(what) escape") }
            guard let v = UInt32(PyText.string(a[i..<(i + count)]), radix: 16), let s = Unicode.Scalar(v) else {
                throw TemplateFailure(.syntax, "truncated \(what) escape")
            }
            i += count
            return s
        }
        while i < a.count {
            let c = a[i]
            i += 1
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard i < a.count else { throw TemplateFailure(.syntax, "\\ at end of string") }
            let e = a[i]
            i += 1
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var v = e.value - 0x30
                var n = 1
                while n < 3, i < a.count, ("0"..."7").contains(a[i]) {
                    v = v * 8 + (a[i].value - 0x30)
                    i += 1
                    n += 1
                }
                out.append(Unicode.Scalar(v)!)
            case "x": out.append(try hex(2, "\\xXX"))
            case "u": out.append(try hex(4, "\\uXXXX"))
            case "U": out.append(try hex(8, "\\UXXXXXXXX"))
            case "N":
                guard i < a.count, a[i] == "{", let close = a[i...].firstIndex(of: "}") else {
                    throw TemplateFailure(.syntax, "malformed \\N character escape")
                }
                let name = PyText.string(a[(i + 1)..<close])
                guard let scalar = scalarNamed(name) else {
                    throw TemplateFailure(.syntax, "unknown Unicode character name '\(name)'")
                }
                out.append(scalar)
                i = close + 1
            default:
                out.append("\\")
                out.append(e)
            }
        }
        return String(out)
    }
}

/// The code point with this Unicode name or alias (case-insensitive, as Python's `\N{...}`).
private func scalarNamed(_ name: String) -> Unicode.Scalar? {
    let wanted = name.uppercased()
    guard !wanted.isEmpty else { return nil }
    for v in UInt32(0)...0x10FFFF {
        guard let c = Unicode.Scalar(v) else { continue }
        if c.properties.name == wanted || c.properties.nameAlias == wanted { return c }
    }
    return nil
}

extension PyText {
    static func isAsciiDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }
}
