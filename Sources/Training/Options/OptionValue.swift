// A value as a user wrote it — a command-line word or a typed JSON/YAML value from `--config` — and the
// typed readers the option table uses. Errors name the key as the user wrote it and the type wanted.

import Foundation
import JSON

public enum OptionValue: Sendable, Equatable {
    /// A command-line value: always text, parsed by the option's type.
    case word(String)
    /// A command-line flag given without a value.
    case flag
    /// A config-file value: its JSON/YAML type must match the option's.
    case typed(JSONValue)
}

/// One problem with one key; `OptionProblems` gathers them so a file gets every problem in one message.
public struct OptionProblem: Error, Sendable, Equatable, Comparable {
    /// The key as the user wrote it (`lora_r`, `--lora-r`).
    public var key: String
    public var message: String
    public var description: String { "\(key): \(message)" }
    public static func < (a: OptionProblem, b: OptionProblem) -> Bool { (a.key, a.message) < (b.key, b.message) }
}

extension OptionValue {
    private var kindName: String {
        switch self {
        case .word: "a word"
        case .flag: "nothing"
        case .typed(let v):
            switch v {
            case .null: "null"
            case .bool: "a boolean"
            case .int: "an integer"
            case .double: "a number"
            case .string: "a string"
            case .array: "a list"
            case .object: "a mapping"
            }
        }
    }

    private func wrong(_ wanted: String) -> String {
        if case .word(let w) = self { return "expected \(wanted), got '\(w)'" }
        return "expected \(wanted), got \(kindName)"
    }

    func int() throws(OptionMessage) -> Int {
        switch self {
        case .word(let w): if let i = Int(w) { return i }
        case .typed(.int(let i)): return i
        case .typed(.double(let d)): if d.rounded() == d, let i = Int(exactly: d) { return i }
        default: break
        }
        throw OptionMessage(wrong("an integer"))
    }

    func uint64() throws(OptionMessage) -> UInt64 {
        switch self {
        case .word(let w): if let i = UInt64(w) { return i }
        case .typed(.int(let i)): if i >= 0 { return UInt64(i) }
        default: break
        }
        throw OptionMessage(wrong("a non-negative integer"))
    }

    func double() throws(OptionMessage) -> Double {
        switch self {
        case .word(let w): if let d = Double(w) { return d }
        case .typed(.int(let i)): return Double(i)
        case .typed(.double(let d)): return d
        default: break
        }
        throw OptionMessage(wrong("a number"))
    }

    func bool() throws(OptionMessage) -> Bool {
        switch self {
        case .flag: return true
        case .word("true"), .word("True"): return true
        case .word("false"), .word("False"): return false
        case .typed(.bool(let b)): return b
        default: throw OptionMessage(wrong("true or false"))
        }
    }

    func string() throws(OptionMessage) -> String {
        switch self {
        case .word(let w): return w
        case .typed(.string(let s)): return s
        default: throw OptionMessage(wrong("a string"))
        }
    }

    /// A list: a YAML/JSON list, or one comma-separated string (the command-line spelling).
    func strings() throws(OptionMessage) -> [String] {
        func split(_ s: String) -> [String] {
            s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        switch self {
        case .word(let w): return split(w)
        case .typed(.string(let s)): return split(s)
        case .typed(.array(let items)):
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    throw OptionMessage("expected a list of strings, found \(OptionValue.typed(item).kindName) in it")
                }
                out.append(s)
            }
            return out
        default: throw OptionMessage(wrong("a list"))
        }
    }

    func doubles() throws(OptionMessage) -> [Double] {
        switch self {
        case .typed(.array(let items)):
            var out: [Double] = []
            for item in items { out.append(try OptionValue.typed(item).double()) }
            return out
        default:
            var out: [Double] = []
            for s in try strings() {
                guard let d = Double(s) else { throw OptionMessage("expected a list of numbers, got '\(s)'") }
                out.append(d)
            }
            return out
        }
    }

    /// One of an enum's raw values; the message lists them.
    func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws(OptionMessage) -> E where E.RawValue == String {
        let s = try string()
        guard let e = E(rawValue: s) else {
            throw OptionMessage("'\(s)' is not one of " + E.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return e
    }

    /// A size in bytes: an integer, or a number with K, M, G or T (powers of 1024; a trailing B or iB
    /// allowed), e.g. 512M, 1.5G; "auto" is nil.
    func size() throws(OptionMessage) -> Int? {
        if case .typed(.int(let i)) = self {
            guard i >= 0 else { throw OptionMessage("expected a size ≥ 0, got \(i)") }
            return i
        }
        let text = try string().trimmingCharacters(in: .whitespaces)
        if text.lowercased() == "auto" { return nil }
        var s = Substring(text.uppercased())
        if s.hasSuffix("IB") { s = s.dropLast(2) } else if s.hasSuffix("B") { s = s.dropLast() }
        var scale = 1.0
        if let last = s.last, let i = "KMGT".firstIndex(of: last) {
            scale = pow(1024, Double("KMGT".distance(from: "KMGT".startIndex, to: i) + 1))
            s = s.dropLast()
        }
        guard let n = Double(s), n >= 0, n.isFinite, n * scale < 9e18 else {
            throw OptionMessage("expected a size such as 512M, 2G or auto, got '\(text)'")
        }
        return Int((n * scale).rounded())
    }

    /// A size as `size()` reads it back: the largest unit that divides it exactly (2G, 512M), else bytes.
    static func sizeText(_ bytes: Int) -> String {
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] where bytes > 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }

    var isNull: Bool { self == .typed(.null) }
}

/// What went wrong with a value, before the key is attached.
struct OptionMessage: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

// MARK: - Suggestions

enum Suggestion {
    /// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
    static func nearest(_ word: String, in candidates: [String]) -> String? {
        let w = Array(word.lowercased().replacingOccurrences(of: "-", with: "_"))
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, Array(c))
            if best == nil || d < best!.1 || (d == best!.1 && c < best!.0) { best = (c, d) }
        }
        guard let (name, d) = best, d <= max(2, w.count / 3) else { return nil }
        return name
    }

    /// Levenshtein distance.
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return row[b.count]
    }
}
