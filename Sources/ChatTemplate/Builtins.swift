// The global functions of transformers' chat-template environment — range, namespace, dict,
// raise_exception, strftime_now — and Python's int()/float() conversions the filters share.

import Foundation

enum Builtins {
    static let names: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now"]
    /// jinja2 globals this renderer does not provide.
    static let unsupportedJinjaGlobals: Set<String> = ["lipsum", "cycler", "joiner"]

    /// jinja2's sandbox refuses ranges longer than this.
    static let maxRange = 100_000

    // MARK: - Calls

    static func call(_ name: String, _ args: CallArgs, clock: Clock) throws(TemplateFailure) -> Value {
        switch name {
        case "range": return try range(args)
        case "namespace":
            let ns = Namespace()
            if let first = args.positional.first {
                guard args.positional.count == 1, case .dict(let d) = first else {
                    throw TemplateFailure("TypeError: namespace() takes a single mapping argument")
                }
                ns.attributes = d
            }
            for (k, v) in args.keyword {
                guard !k.hasPrefix("_") else {
                    throw TemplateFailure("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(k)'.")
                }
                ns.attributes.setString(k, v)
            }
            return .namespace(ns)
        case "dict":
            var d = Dict()
            if let first = args.positional.first {
                guard args.positional.count == 1, case .dict(let m) = first else {
                    throw TemplateFailure.unsupported("dict() with a non-mapping positional argument")
                }
                d = m
            }
            for (k, v) in args.keyword { d.setString(k, v) }
            return .dict(d)
        case "raise_exception":
            let slots = try args.bind(["message"], "raise_exception")
            throw TemplateFailure(.raised, try PyFormat.str(slots[0] ?? .undefined("missing message")))
        case "strftime_now":
            let slots = try args.bind(["format"], "strftime_now")
            guard case .string(let f)? = slots[0] else {
                throw TemplateFailure("TypeError: strftime_now() argument must be str")
            }
            return .string(try Strftime.format(f, clock))
        default:
            throw TemplateFailure.unsupported("unsupported function '\(name)'")
        }
    }

    private static func range(_ args: CallArgs) throws(TemplateFailure) -> Value {
        guard args.keyword.isEmpty else { throw TemplateFailure("TypeError: range() takes no keyword arguments") }
        var ints: [Int] = []
        for a in args.positional {
            switch a {
            case .int(let i): ints.append(i)
            case .bool(let b): ints.append(b ? 1 : 0)
            case .undefined(let u): throw u.failure
            default: throw TemplateFailure("TypeError: '\(a.typeName)' object cannot be interpreted as an integer")
            }
        }
        let (start, stop, step): (Int, Int, Int)
        switch ints.count {
        case 1: (start, stop, step) = (0, ints[0], 1)
        case 2: (start, stop, step) = (ints[0], ints[1], 1)
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw TemplateFailure("TypeError: range expected 1 to 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw TemplateFailure("ValueError: range() arg 3 must not be zero") }
        let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
        guard count <= maxRange else {
            throw TemplateFailure("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maxRange)).")
        }
        return .view(.range(start: start, stop: stop, step: step), (0..<count).map { .int(start + $0 * step) })
    }

    // MARK: - Python conversions

    /// int(value) for numbers and bools; nil otherwise.
    static func toInt(_ v: Value) throws(TemplateFailure) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .double(let d):
            if d.isNaN { return nil }
            guard d.isFinite else { throw TemplateFailure("OverflowError: cannot convert float infinity to integer") }
            guard let i = Int(exactly: d.rounded(.towardZero)) else { throw bigInteger }
            return i
        default: return nil
        }
    }

    static func toDouble(_ v: Value) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .bool(let b): b ? 1 : 0
        case .double(let d): d
        default: nil
        }
    }

    static let bigInteger = TemplateFailure(
        "integer overflow (Python integers are unbounded, this renderer's are 64-bit)")

    /// Python int(text, base): surrounding whitespace, a sign, underscores between digits, an optional
    /// 0x/0o/0b prefix matching the base (or any prefix with base 0).
    static func parseInt(_ text: String, base: Int) throws(TemplateFailure) -> Int? {
        var s = Substring(PyText.strip(text, chars: nil))
        var negative = false
        if s.first == "-" || s.first == "+" {
            negative = s.first == "-"
            s = s.dropFirst()
        }
        var radix = base
        let lower = s.lowercased()
        for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where lower.hasPrefix(prefix) && (base == r || base == 0) {
            radix = r
            s = s.dropFirst(2)
            if s.first == "_" { s = s.dropFirst() }
        }
        if radix == 0 { radix = 10 }
        guard !s.isEmpty, s.first != "_", s.last != "_", !s.contains("__") else { return nil }
        let digits = s.replacingOccurrences(of: "_", with: "")
        guard digits.allSatisfy({ $0.isHexDigit && Int(String($0), radix: radix) != nil }) else { return nil }
        guard let magnitude = Int(digits, radix: radix) else { throw bigInteger }
        return negative ? -magnitude : magnitude
    }

    /// Python float(text): whitespace, underscores between digits, inf/nan spellings.
    static func parseDouble(_ text: String) -> Double? {
        let s = PyText.strip(text, chars: nil)
        let lower = s.lowercased()
        var body = Substring(lower)
        var sign = 1.0
        if body.first == "-" || body.first == "+" {
            sign = body.first == "-" ? -1 : 1
            body = body.dropFirst()
        }
        if body == "inf" || body == "infinity" { return sign * .infinity }
        if body == "nan" { return .nan }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && ($0.isNumber || "._e+-".contains($0)) }) else { return nil }
        guard !body.contains("__"), body.first != "_", body.last != "_" else { return nil }
        guard let d = Double(String(body).replacingOccurrences(of: "_", with: "")) else { return nil }
        return sign * d
    }
}

// MARK: - Arguments

/// Evaluated call arguments, bound to Python-style parameter lists.
struct CallArgs {
    var positional: [Value] = []
    var keyword: [(String, Value)] = []

    /// One slot per parameter name: positional arguments fill in order, keywords by name.
    func bind(_ names: [String], _ what: String) throws(TemplateFailure) -> [Value?] {
        guard positional.count <= names.count else {
            throw TemplateFailure("TypeError: \(what)() takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        var slots: [Value?] = positional.map { Optional($0) } + Array(repeating: nil, count: names.count - positional.count)
        for (k, v) in keyword {
            guard let i = names.firstIndex(of: k) else {
                throw TemplateFailure("TypeError: \(what)() got an unexpected keyword argument '\(k)'")
            }
            guard slots[i] == nil else { throw TemplateFailure("TypeError: \(what)() got multiple values for argument '\(k)'") }
            slots[i] = v
        }
        return slots
    }
}

// MARK: - Clock

/// What `strftime_now` reads: the current time, or a fixed instant for reproducible renders.
struct Clock: Sendable {
    var fixedDate: Date?
    var timeZone: TimeZone

    var now: Date { fixedDate ?? Date() }
}

// MARK: - strftime

enum Strftime {
    private static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]

    /// C-locale strftime for the common directives, including glibc's `%-d` style (no padding).
    static func format(_ fmt: String, _ clock: Clock) throws(TemplateFailure) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = clock.timeZone
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday], from: clock.now)
        let date = clock.now
        let year = c.year ?? 1970
        let month = c.month ?? 1
        let day = c.day ?? 1
        let hour = c.hour ?? 0
        let minute = c.minute ?? 0
        let second = c.second ?? 0
        let weekday = (c.weekday ?? 1) - 1
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        let hour12 = hour % 12 == 0 ? 12 : hour % 12

        var out = ""
        var chars = Array(fmt)[...]
        while let ch = chars.popFirst() {
            guard ch == "%" else {
                out.append(ch)
                continue
            }
            var pad = true
            if chars.first == "-" {
                pad = false
                chars.removeFirst()
            }
            guard let d = chars.popFirst() else {
                out.append("%")
                break
            }
            func num(_ v: Int, _ width: Int) -> String {
                let s = String(v)
                return pad ? String(repeating: "0", count: max(0, width - s.count)) + s : s
            }
            switch d {
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "d": out += num(day, 2)
            case "e": out += pad ? (day < 10 ? " " : "") + String(day) : String(day)
            case "m": out += num(month, 2)
            case "y": out += num(year % 100, 2)
            case "Y": out += String(year)
            case "H": out += num(hour, 2)
            case "I": out += num(hour12, 2)
            case "M": out += num(minute, 2)
            case "S": out += num(second, 2)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "j": out += num(dayOfYear, 3)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "w": out += String(weekday)
            case "F": out += "\(year)-\(num(month, 2))-\(num(day, 2))"
            case "D": out += "\(num(month, 2))/\(num(day, 2))/\(num(year % 100, 2))"
            case "T": out += "\(num(hour, 2)):\(num(minute, 2)):\(num(second, 2))"
            case "%": out += "%"
            default: throw TemplateFailure.unsupported("unsupported strftime directive '%\(d)'")
            }
        }
        return out
    }
}
