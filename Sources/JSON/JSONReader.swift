// The package's one JSON reader: strict RFC 8259 by default (config.json, tokenizer.json, safetensors
// headers: a repeated key is an error), or Python's json.loads rules on request (NaN and Infinity
// accepted, a repeated key keeps its first place and its last value). Objects keep their key order.
// Fast on multi-megabyte tokenizer files; errors carry the byte offset, line and column.

import Foundation

// MARK: - Values and errors

/// A parsed JSON value. Integers without a fraction or exponent that fit in Int stay integers.
public indirect enum JSONNode: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONNode])
    case object([(key: String, value: JSONNode)])
}

public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable {
    /// Byte offset into the UTF-8 text, and the same place as a 1-based line and column (in characters).
    public let offset: Int
    public let line: Int
    public let column: Int
    public let message: String

    public var description: String { "line \(line), column \(column): \(message)" }
}

public enum JSONReader {
    public struct Rules: Sendable {
        /// Accept NaN, Infinity and -Infinity, and numbers too large for a Double (as infinities).
        public var allowsNonFinite: Bool
        /// Refuse an object that repeats a key (otherwise the last value wins, in the first key's place).
        public var refusesDuplicateKeys: Bool
        public var maxDepth = 512

        /// RFC 8259, repeated keys refused.
        public static let strict = Rules(allowsNonFinite: false, refusesDuplicateKeys: true)
        /// What Python's json.loads accepts.
        public static let python = Rules(allowsNonFinite: true, refusesDuplicateKeys: false)
    }

    /// Parses one JSON text (surrounding whitespace allowed, nothing else).
    public static func parse(_ bytes: UnsafeRawBufferPointer, rules: Rules = .strict) throws(JSONSyntaxError) -> JSONNode {
        var p = Parser(bytes: bytes, rules: rules)
        return try p.document()
    }

    /// Parses the bytes of any contiguous buffer ([UInt8], a slice of one, Data) in place.
    public static func parse(_ bytes: some ContiguousBytes, rules: Rules = .strict) throws(JSONSyntaxError) -> JSONNode {
        try bytes.withUnsafeBytes { attempt($0, rules) }.get()
    }

    public static func parse(_ text: String, rules: Rules = .strict) throws(JSONSyntaxError) -> JSONNode {
        try parse(Array(text.utf8), rules: rules)
    }

    /// The parse as a Result, so it can leave a `withUnsafeBytes` closure with its error type intact.
    private static func attempt(_ bytes: UnsafeRawBufferPointer, _ rules: Rules) -> Result<JSONNode, JSONSyntaxError> {
        do { return .success(try parse(bytes, rules: rules)) } catch { return .failure(error) }
    }
}

// MARK: - Parser

private struct Parser {
    let bytes: UnsafeRawBufferPointer
    let rules: JSONReader.Rules
    var i = 0

    init(bytes: UnsafeRawBufferPointer, rules: JSONReader.Rules) {
        self.bytes = bytes
        self.rules = rules
    }

    mutating func document() throws(JSONSyntaxError) -> JSONNode {
        skipSpace()
        let v = try value(depth: 0)
        skipSpace()
        guard i == bytes.count else { throw fail("unexpected characters after the JSON value") }
        return v
    }

    // MARK: - Errors

    func fail(_ what: String) -> JSONSyntaxError {
        var line = 1, column = 1
        for b in bytes[0..<min(i, bytes.count)] {
            if b == 0x0A {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {
                column += 1
            }
        }
        return JSONSyntaxError(offset: i, line: line, column: column, message: what)
    }

    static func show(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? "'\(Character(UnicodeScalar(c)))'" : String(format: "0x%02x", c)
    }

    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws(JSONSyntaxError) {
        guard peek == c else { throw fail(peek == nil ? "unexpected end, expected \(what)" : "expected \(what)") }
        i += 1
    }

    /// Consumes `word` if the text continues with it.
    mutating func skip(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, memcmp(bytes.baseAddress! + i, word.utf8Start, n) == 0 else { return false }
        i += n
        return true
    }

    // MARK: - Values

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        guard depth < rules.maxDepth else { throw fail("nested deeper than \(rules.maxDepth) levels") }
        guard let c = peek else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t") where skip("true"): return .bool(true)
        case UInt8(ascii: "f") where skip("false"): return .bool(false)
        case UInt8(ascii: "n") where skip("null"): return .null
        case UInt8(ascii: "N") where rules.allowsNonFinite && skip("NaN"): return .double(.nan)
        case UInt8(ascii: "I") where rules.allowsNonFinite && skip("Infinity"): return .double(.infinity)
        case UInt8(ascii: "-") where rules.allowsNonFinite && skip("-Infinity"): return .double(-.infinity)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character \(Self.show(c))")
        }
    }

    mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        i += 1
        var out: [(key: String, value: JSONNode)] = []
        // Keys compare by bytes: String's == treats "é" and "e\u{301}" as one key, but JSON (and a tokenizer
        // vocab holding both spellings) does not.
        var place: [[UInt8]: Int] = [:]
        skipSpace()
        if peek == UInt8(ascii: "}") {
            i += 1
            return .object(out)
        }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"), "':'")
            skipSpace()
            let v = try value(depth: depth + 1)
            let exactKey = Array(key.utf8)
            if let k = place[exactKey] {
                if rules.refusesDuplicateKeys { throw fail("duplicate key \"\(key)\"") }
                out[k].value = v
            } else {
                place[exactKey] = out.count
                out.append((key, v))
            }
            skipSpace()
            if peek == UInt8(ascii: ",") {
                i += 1
                continue
            }
            try expect(UInt8(ascii: "}"), "',' or '}'")
            return .object(out)
        }
    }

    mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        i += 1
        var out: [JSONNode] = []
        skipSpace()
        if peek == UInt8(ascii: "]") {
            i += 1
            return .array(out)
        }
        while true {
            skipSpace()
            out.append(try value(depth: depth + 1))
            skipSpace()
            if peek == UInt8(ascii: ",") {
                i += 1
                continue
            }
            try expect(UInt8(ascii: "]"), "',' or ']'")
            return .array(out)
        }
    }

    // MARK: - Strings and numbers

    mutating func string() throws(JSONSyntaxError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
        if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
            guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self) else {
                throw fail("string is not valid UTF-8")
            }
            i += 1
            return s
        }
        var buf = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
        while true {
            guard let c = peek else { throw fail("unterminated string") }
            if c == UInt8(ascii: "\"") {
                i += 1
                break
            }
            guard c >= 0x20 else { throw fail("control character \(Self.show(c)) in a string") }
            if c != UInt8(ascii: "\\") {
                buf.append(c)
                i += 1
                continue
            }
            i += 1
            guard let e = peek else { throw fail("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "\""): buf.append(0x22)
            case UInt8(ascii: "\\"): buf.append(0x5C)
            case UInt8(ascii: "/"): buf.append(0x2F)
            case UInt8(ascii: "b"): buf.append(0x08)
            case UInt8(ascii: "f"): buf.append(0x0C)
            case UInt8(ascii: "n"): buf.append(0x0A)
            case UInt8(ascii: "r"): buf.append(0x0D)
            case UInt8(ascii: "t"): buf.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard peek == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))")
                }
                buf += Array(String(UnicodeScalar(scalar)!).utf8)
            default:
                throw fail("invalid escape \\\(Self.show(e))")
            }
        }
        guard let s = String(validating: buf, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func number() throws(JSONSyntaxError) -> JSONNode {
        let start = i
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - s
        }
        if peek == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let n = digits()
        // Errors point at the number's first character.
        func bad(_ what: String) -> JSONSyntaxError {
            i = start
            return fail(what)
        }
        guard n > 0 else { throw bad("invalid number") }
        guard !(n > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw bad("number with a leading zero") }
        var integral = true
        if peek == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw bad("invalid number") }
            integral = false
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw bad("invalid number") }
            integral = false
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if integral, let v = Int(text) { return .int(v) }
        guard let d = Double(text), d.isFinite || rules.allowsNonFinite else { throw bad("number \(text) is out of range") }
        return .double(d)
    }
}
