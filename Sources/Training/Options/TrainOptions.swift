// Reading and writing TrainArguments through the option table: the command line, a `--config` file
// (YAML or JSON, TRL/PEFT/HF spellings accepted), run.json and the checkpoint manifest, and what a
// resumed run may change. Every problem in a file is reported at once, sorted, with the nearest name.

import Foundation
import JSON
import Yams

public enum TrainOptions {
    /// One key and its value, in the order given.
    public typealias Given = [(key: String, value: OptionValue)]

    /// run.json's key for the run's identity (base fingerprint, data hash); `--config` skips it, so run.json
    /// can be fed back unchanged.
    public static let runKey = "leandpo_run"

    // MARK: - Applying

    /// Applies `given` onto `arguments` in order. Unknown keys, type errors and repeated keys are all
    /// gathered into one error naming `source`; keys LeanDPO knows but has no knob for give notes. On a
    /// command line a repeated option wins over the earlier one (scripts append overrides); in a file,
    /// one option under two spellings (`lr` and `learning_rate`) is a mistake.
    public static func apply(
        _ given: Given, to arguments: inout TrainArguments, source: String, laterWins: Bool = false
    ) throws(ArgumentError) -> [String] {
        var problems: [OptionProblem] = []
        var notes: [String] = []
        var seen: [String: String] = [:]
        for (key, value) in given {
            let k = TrainOption.normalized(key)
            if k == runKey { continue }
            guard let option = TrainOption.lookup(k) else {
                if let note = TrainOption.notes[k] {
                    notes.append("\(key) is ignored: \(note)")
                } else {
                    let near = Suggestion.nearest(k, in: TrainOption.knownKeys + TrainOption.notes.keys.sorted())
                    let spelled = key.hasPrefix("-") ? { (s: String) in "--" + s.replacingOccurrences(of: "_", with: "-") } : { (s: String) in s }
                    let hint = near.map { " (did you mean '\(spelled($0))'?)" } ?? ""
                    problems.append(OptionProblem(key: key, message: "unknown option\(hint)"))
                }
                continue
            }
            if let earlier = seen[option.name], !laterWins {
                problems.append(OptionProblem(key: key, message: "given twice (also as \(earlier))"))
                continue
            }
            seen[option.name] = key
            if value.isNull { continue }
            do throws(OptionMessage) {
                try option.assign(&arguments, value, &notes)
            } catch {
                problems.append(OptionProblem(key: key, message: error.text))
            }
        }
        guard problems.isEmpty else {
            let sorted = problems.sorted()
            let head = sorted.count == 1 ? "" : "\(sorted.count) problems: "
            throw ArgumentError("\(source): " + head + sorted.map(\.description).joined(separator: "; "))
        }
        return notes
    }

    // MARK: - Command line

    /// Splits `--name value`, `--name=value` and `--flag` words into keys and values.
    public static func parseCommandLine(_ words: [String]) throws(ArgumentError) -> Given {
        var out: Given = []
        var problems: [OptionProblem] = []
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            guard word.hasPrefix("--"), word.count > 2 else {
                problems.append(OptionProblem(key: word, message: "unexpected argument (options are written --name value)"))
                continue
            }
            var key = word
            var inline: String?
            if let eq = word.firstIndex(of: "=") {
                key = String(word[..<eq])
                inline = String(word[word.index(after: eq)...])
            }
            let option = TrainOption.lookup(key)
            let takesValue = option.map { $0.valueName != nil } ?? (i < words.count && !words[i].hasPrefix("--"))
            if let inline {
                out.append((key, .word(inline)))
            } else if !takesValue {
                out.append((key, .flag))
            } else if i < words.count, !(words[i].hasPrefix("--") && words[i].count > 2) {
                out.append((key, .word(words[i])))
                i += 1
            } else {
                problems.append(OptionProblem(key: key, message: "needs a value (\(option?.valueName ?? "VALUE"))"))
            }
        }
        guard problems.isEmpty else {
            throw ArgumentError(problems.sorted().map(\.description).joined(separator: "; "))
        }
        return out
    }

    // MARK: - Config files

    /// A YAML (`.yaml`, `.yml`) or JSON file holding one mapping of option names to values.
    public static func loadConfig(path: String) throws(ArgumentError) -> Given {
        guard let data = FileManager.default.contents(atPath: path) else { throw ArgumentError("\(path): cannot read the config file") }
        return try parseConfig(data, path: path)
    }

    /// A config file's bytes; YAML when `path` ends in .yaml or .yml, else JSON.
    public static func parseConfig(_ data: Data, path: String) throws(ArgumentError) -> Given {
        let value: JSONValue
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            guard let text = String(data: data, encoding: .utf8) else { throw ArgumentError("\(path): not UTF-8 text") }
            value = try YAMLConfig.parse(text, path: path)
        } else {
            do throws(JSONSyntaxError) {
                value = JSONValue(try JSONReader.parse(data, rules: .strict))
            } catch {
                throw ArgumentError("\(path): line \(error.line), column \(error.column): not valid JSON: \(error.message)")
            }
        }
        guard case .object(let fields) = value else { throw ArgumentError("\(path): the config must be a mapping of option names to values") }
        return fields.keys.sorted().map { ($0, .typed(fields[$0]!)) }
    }

    // MARK: - run.json and checkpoints

    /// Every option with a value, in table order, under its canonical name.
    public static func encode(_ a: TrainArguments) -> JSONText {
        .object(TrainOption.all.compactMap { o in o.value(a).map { (o.name, $0) } })
    }

    /// The inverse of `encode` (run.json, a checkpoint manifest).
    public static func decode(_ value: JSONValue, source: String) throws(ArgumentError) -> TrainArguments {
        guard case .object(let fields) = value else { throw ArgumentError("\(source): arguments must be an object") }
        var a = TrainArguments()
        // A checkpoint manifest is read with JSONDecoder's snake-case key conversion, which hands nested
        // keys over camel-cased (loraR); undo it so both spellings decode.
        let given: Given = fields.keys.sorted().map { (snakeCased($0), .typed(fields[$0]!)) }
        _ = try apply(given, to: &a, source: source)
        // Runs recorded before `reference` existed scored an --init-adapter run against the base.
        if fields["reference"] == nil, a.initAdapter != nil { a.reference = .base }
        return a
    }

    static func snakeCased(_ key: String) -> String {
        var out = ""
        for c in key {
            if c.isUppercase {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }

    // MARK: - Resume

    /// Compares a checkpoint's arguments with a resumed run's: the options whose change would make the
    /// numbers differ from an unbroken run (refused), and the allowed changes, each as `name: old → new`.
    public static func resumeDifferences(saved: TrainArguments, now: TrainArguments) -> (refused: [String], changed: [String]) {
        var refused: [String] = []
        var changed: [String] = []
        for o in TrainOption.all {
            let (old, new) = (o.value(saved), o.value(now))
            guard old != new else { continue }
            let describe = "\(o.name) \(old?.rendered(indent: nil) ?? "unset") → \(new?.rendered(indent: nil) ?? "unset")"
            switch o.onResume {
            case .mustMatch: refused.append(o.flag)
            case .mayExtend, .free:
                // Paths are compared by content (base fingerprint, data hash), not by name.
                if o.group != .inputs || o.name == "eval_data" { changed.append(describe) }
            }
        }
        return (refused, changed)
    }

    // MARK: - Help

    /// The options, grouped, with defaults and aliases: `leandpo train --help` prints this.
    public static var helpText: String { helpText(groups: TrainOption.Group.allCases) }

    public static func helpText(groups: [TrainOption.Group]) -> String {
        var lines: [String] = []
        for g in groups {
            lines.append("\(g.rawValue.uppercased()):")
            for o in TrainOption.all where o.group == g {
                let left = "  " + o.flag + (o.valueName.map { " " + $0 } ?? "")
                var right = o.help
                if let d = o.defaultText, o.valueName != nil { right += " (default \(d))" }
                if !o.aliases.isEmpty { right += " [also: " + o.aliases.joined(separator: ", ") + "]" }
                lines.append(left.padding(toLength: max(left.count + 1, 30), withPad: " ", startingAt: 0) + right)
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - YAML

/// A YAML config as a JSONValue tree. Aliases are followed with a budget on the expanded size, so a
/// file of nested aliases ("billion laughs") is refused instead of filling memory. Scalars are read by
/// our own checked parsing, never Yams' constructors (Yams 5 traps on an overflowing base-60 integer).
enum YAMLConfig {
    static let maxNodes = 100_000

    static func parse(_ text: String, path: String) throws(ArgumentError) -> JSONValue {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw ArgumentError("\(path): not valid YAML: \(oneLine(error))") }
        guard let root else { throw ArgumentError("\(path): the config is empty") }
        var budget = maxNodes
        return try convert(root, path: path, budget: &budget)
    }

    private static func convert(_ node: Node, path: String, budget: inout Int) throws(ArgumentError) -> JSONValue {
        budget -= 1
        guard budget >= 0 else { throw ArgumentError("\(path): the config expands to more than \(maxNodes) values (nested aliases?)") }
        switch node {
        case .scalar(let s):
            let tag = node.tag.description
            let text = s.string
            if tag == Tag.Name.null.rawValue { return .null }
            if tag == Tag.Name.bool.rawValue, let b = boolean(text) { return .bool(b) }
            if tag == Tag.Name.int.rawValue, let i = integer(text) { return .int(i) }
            if tag == Tag.Name.float.rawValue || tag == Tag.Name.int.rawValue, let d = Double(text.replacingOccurrences(of: "_", with: "")) {
                return .double(d)
            }
            return .string(text)
        case .sequence(let items):
            var out: [JSONValue] = []
            for item in items { out.append(try convert(item, path: path, budget: &budget)) }
            return .array(out)
        case .mapping(let pairs):
            var out: [String: JSONValue] = [:]
            for (k, v) in pairs {
                guard let key = k.string else { throw ArgumentError("\(path): keys must be option names") }
                out[key] = try convert(v, path: path, budget: &budget)
            }
            return .object(out)
        }
    }

    /// YAML 1.1's booleans.
    static func boolean(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "yes", "on", "y": true
        case "false", "no", "off", "n": false
        default: nil
        }
    }

    /// Decimal, 0x hexadecimal and 0o/0 octal integers with optional sign and underscores; nil when the
    /// text is none of them or does not fit (base-60 integers stay strings).
    static func integer(_ s: String) -> Int? {
        var t = s.replacingOccurrences(of: "_", with: "")
        var sign = 1
        if t.hasPrefix("-") || t.hasPrefix("+") {
            if t.hasPrefix("-") { sign = -1 }
            t.removeFirst()
        }
        let magnitude: Int?
        if t.hasPrefix("0x") {
            magnitude = Int(t.dropFirst(2), radix: 16)
        } else if t.hasPrefix("0o") {
            magnitude = Int(t.dropFirst(2), radix: 8)
        } else if t.count > 1, t.hasPrefix("0") {
            magnitude = Int(t.dropFirst(), radix: 8)
        } else {
            magnitude = Int(t)
        }
        return magnitude.map { $0 * sign }
    }

    private static func oneLine(_ error: Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}

// MARK: - Codable

/// Inside a checkpoint manifest the arguments are the same flat object run.json holds.
extension TrainArguments: Codable {
    public func encode(to encoder: Encoder) throws { try TrainOptions.encode(self).encode(to: encoder) }

    public init(from decoder: Decoder) throws {
        self = try TrainOptions.decode(JSONValue(from: decoder), source: "arguments")
    }
}
