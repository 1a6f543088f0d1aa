// Python `str` semantics over Unicode scalars (code points): whitespace, strip, split, replace, case,
// searching and slicing. Swift's String compares by canonical equivalence and indexes by grapheme;
// Python does neither, so everything here works on `[Unicode.Scalar]`.

typealias Scalars = [Unicode.Scalar]

enum PyText {
    // MARK: - Conversions

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }

    static func string<C: Sequence>(_ a: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: a)
        return String(view)
    }

    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    static func equal(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

    static func less(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    // MARK: - Character classes

    /// Python's str.isspace() set (also what `\s` matches in a Unicode regex).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// The line boundaries of str.splitlines().
    static func isLineBreak(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func isAlpha(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isDecimal(_ c: Unicode.Scalar) -> Bool { c.properties.numericType == .decimal }

    static func isDigit(_ c: Unicode.Scalar) -> Bool {
        c.properties.numericType == .decimal || c.properties.numericType == .digit
    }

    static func isNumeric(_ c: Unicode.Scalar) -> Bool { c.properties.numericType != nil }

    static func isCased(_ c: Unicode.Scalar) -> Bool { c.properties.isCased }

    /// Python's str.isprintable() for one code point (used by repr).
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default:
            return true
        }
    }

    // MARK: - Case

    static func lower(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars { out += c.properties.lowercaseMapping }
        return out
    }

    static func upper(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars { out += c.properties.uppercaseMapping }
        return out
    }

    /// str.capitalize(): first code point title-cased, the rest lower-cased.
    static func capitalize(_ s: String) -> String {
        var out = ""
        for (i, c) in s.unicodeScalars.enumerated() {
            out += i == 0 ? c.properties.titlecaseMapping : c.properties.lowercaseMapping
        }
        return out
    }

    /// str.title(): a cased character after an uncased one is title-cased, others lower-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
            previousCased = isCased(c)
        }
        return out
    }

    static func swapcase(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.properties.isUppercase {
                out += c.properties.lowercaseMapping
            } else if c.properties.isLowercase {
                out += c.properties.uppercaseMapping
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func isLower(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isLowercase { cased = true }
        }
        return cased
    }

    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isLowercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isUppercase { cased = true }
        }
        return cased
    }

    // MARK: - Strip

    static func strip(_ s: String, chars: String?, left: Bool = true, right: Bool = true) -> String {
        let a = scalars(s)
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isSpace(c) }
        var lo = 0
        var hi = a.count
        if left { while lo < hi, strippable(a[lo]) { lo += 1 } }
        if right { while hi > lo, strippable(a[hi - 1]) { hi -= 1 } }
        return string(a[lo..<hi])
    }

    // MARK: - Search

    /// First index of `needle` in `hay` at or after `from`, in code points.
    static func find(_ hay: Scalars, _ needle: Scalars, from: Int = 0) -> Int? {
        if needle.isEmpty { return from <= hay.count ? from : nil }
        guard hay.count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], hay[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ hay: Scalars, _ needle: Scalars) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = hay.count - needle.count
        while i >= 0 {
            if hay[i..<i + needle.count].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
    }

    static func contains(_ hay: String, _ needle: String) -> Bool {
        find(scalars(hay), scalars(needle)) != nil
    }

    static func count(_ hay: String, _ needle: String) -> Int {
        let h = scalars(hay)
        let n = scalars(needle)
        if n.isEmpty { return h.count + 1 }
        var total = 0
        var i = 0
        while let j = find(h, n, from: i) {
            total += 1
            i = j + n.count
        }
        return total
    }

    static func hasPrefix(_ s: String, _ p: String) -> Bool { s.unicodeScalars.starts(with: p.unicodeScalars) }

    static func hasSuffix(_ s: String, _ p: String) -> Bool {
        s.unicodeScalars.reversed().starts(with: p.unicodeScalars.reversed())
    }

    // MARK: - Replace and split

    /// str.replace(old, new, count); a negative count replaces all.
    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) throws(TemplateFailure) -> String {
        let a = scalars(s)
        let o = scalars(old)
        let n = scalars(new)
        var out: Scalars = []
        var done = 0
        if o.isEmpty {
            let inserts = count < 0 ? a.count + 1 : min(count, a.count + 1)
            try RenderBudget.string(RenderBudget.sum(s.utf8.count, RenderBudget.product(inserts, new.utf8.count)))
            for c in a {
                if count < 0 || done < count {
                    out += n
                    done += 1
                }
                out.append(c)
            }
            if count < 0 || done < count { out += n }
            return string(out)
        }
        var i = 0
        while i < a.count {
            if count >= 0 && done >= count { break }
            guard let j = find(a, o, from: i) else { break }
            out += a[i..<j]
            out += n
            done += 1
            i = j + o.count
            // each replacement grows the text by at most new's length: check the growth as it happens
            if n.count > o.count { try RenderBudget.string(RenderBudget.product(out.count, 1)) }
        }
        out += a[i...]
        return string(out)
    }

    /// str.split(sep, maxsplit): with no separator, splits on runs of whitespace and drops empty ends.
    static func split(_ s: String, sep: String?, maxsplit: Int = -1) throws(TemplateFailure) -> [String] {
        let a = scalars(s)
        var parts: [String] = []
        guard let sep else {
            var i = 0
            var splits = 0
            while i < a.count {
                while i < a.count, isSpace(a[i]) { i += 1 }
                if i == a.count { break }
                if maxsplit >= 0 && splits >= maxsplit {
                    parts.append(string(a[i...]))
                    return parts
                }
                let start = i
                while i < a.count, !isSpace(a[i]) { i += 1 }
                parts.append(string(a[start..<i]))
                splits += 1
            }
            return parts
        }
        let p = scalars(sep)
        guard !p.isEmpty else { throw TemplateFailure("ValueError: empty separator") }
        var i = 0
        while maxsplit < 0 || parts.count < maxsplit, let j = find(a, p, from: i) {
            parts.append(string(a[i..<j]))
            i = j + p.count
        }
        parts.append(string(a[i...]))
        return parts
    }

    /// str.rsplit(sep, maxsplit).
    static func rsplit(_ s: String, sep: String?, maxsplit: Int = -1) throws(TemplateFailure) -> [String] {
        if maxsplit < 0 { return try split(s, sep: sep, maxsplit: -1) }
        let a = scalars(s)
        var parts: [String] = []
        guard let sep else {
            var i = a.count
            var splits = 0
            while i > 0 {
                while i > 0, isSpace(a[i - 1]) { i -= 1 }
                if i == 0 { break }
                if splits >= maxsplit {
                    parts.append(string(a[0..<i]))
                    return parts.reversed()
                }
                let end = i
                while i > 0, !isSpace(a[i - 1]) { i -= 1 }
                parts.append(string(a[i..<end]))
                splits += 1
            }
            return parts.reversed()
        }
        let p = scalars(sep)
        guard !p.isEmpty else { throw TemplateFailure("ValueError: empty separator") }
        var end = a.count
        while parts.count < maxsplit, let j = rfind(Array(a[0..<end]), p) {
            parts.append(string(a[(j + p.count)..<end]))
            end = j
        }
        parts.append(string(a[0..<end]))
        return parts.reversed()
    }

    /// str.splitlines(keepends).
    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        let a = scalars(s)
        var lines: [String] = []
        var i = 0
        var start = 0
        while i < a.count {
            if isLineBreak(a[i]) {
                var end = i + 1
                if a[i] == "\r", i + 1 < a.count, a[i + 1] == "\n" { end = i + 2 }
                lines.append(string(a[start..<(keepends ? end : i)]))
                i = end
                start = end
            } else {
                i += 1
            }
        }
        if start < a.count { lines.append(string(a[start...])) }
        return lines
    }

    // MARK: - Slicing (Python semantics for start/stop/step, negative indices and clamping)

    static func sliceIndices(count: Int, start: Int?, stop: Int?, step: Int?) throws(TemplateFailure) -> [Int] {
        let step = step ?? 1
        guard step != 0 else { throw TemplateFailure("ValueError: slice step cannot be zero") }
        func clamp(_ v: Int?, _ dflt: Int, lower: Int, upper: Int) -> Int {
            guard var v else { return dflt }
            if v < 0 { v += count }
            return min(max(v, lower), upper)
        }
        var out: [Int] = []
        if step > 0 {
            let lo = clamp(start, 0, lower: 0, upper: count)
            let hi = clamp(stop, count, lower: 0, upper: count)
            var i = lo
            while i < hi {
                out.append(i)
                i += step
            }
        } else {
            let lo = clamp(start, count - 1, lower: -1, upper: count - 1)
            let hi = clamp(stop, -1, lower: -1, upper: count - 1)
            var i = lo
            while i > hi {
                out.append(i)
                i += step
            }
        }
        return out
    }
}
