// Reading metrics.jsonl back into typed series: training rows, and evaluation rows (keys with the `eval_`
// prefix) kept apart under their unprefixed names. null (how a non-finite value is written) reads as NaN.

import Foundation
import JSON

/// One logged value of a metric; `value` is NaN where the file holds null.
public struct MetricPoint: Sendable, Equatable {
    public var step: Double
    public var value: Double

    public init(step: Double, value: Double) {
        self.step = step
        self.value = value
    }

    public static func == (a: MetricPoint, b: MetricPoint) -> Bool {
        a.step == b.step && (a.value == b.value || (a.value.isNaN && b.value.isNaN))
    }
}

/// Every value of one metric, in file order.
public struct MetricSeries: Sendable, Equatable {
    public let name: String
    public var points: [MetricPoint]

    public init(name: String, points: [MetricPoint] = []) {
        self.name = name
        self.points = points
    }

    /// The points whose value is a finite number.
    public var finitePoints: [MetricPoint] { points.filter { $0.value.isFinite } }
}

/// The contents of one metrics.jsonl.
public struct RunMetrics: Sendable {
    /// Every row as written, keys in file order (null as NaN), for replaying into another log.
    public private(set) var rows: [[(String, Double)]] = []
    /// Training series by name, and their names in the order first seen.
    public private(set) var train: [String: MetricSeries] = [:]
    public private(set) var trainNames: [String] = []
    /// Evaluation series by their name without `eval_` (so `eval_loss` is `eval["loss"]`).
    public private(set) var eval: [String: MetricSeries] = [:]
    public private(set) var evalNames: [String] = []
    /// Lines that could not be read (a run killed mid-line, hand edits), one message each, not fatal.
    public private(set) var skipped: [String] = []

    public static let evalPrefix = "eval_"

    public init() {}

    /// Reads `path`; a file that cannot be read, or holds no row at all, is an error.
    public static func read(path: String) throws -> RunMetrics {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReportFileError(path: path, what: "cannot read (no such file, or not readable)")
        }
        let metrics = RunMetrics(text: String(decoding: data, as: UTF8.self), path: path)
        guard !metrics.rows.isEmpty else {
            let why = metrics.skipped.first.map { "; " + $0 } ?? ""
            throw ReportFileError(path: path, what: "no metrics rows (has the run logged a step yet?)\(why)")
        }
        return metrics
    }

    /// Parses the text of a metrics.jsonl; `path` only names the file in the messages of skipped lines.
    public init(text: String, path: String = "metrics.jsonl") {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let lineNumber = index + 1
            do {
                try add(line: trimmed)
            } catch let e as RowError {
                skipped.append("\(path) line \(lineNumber): \(e.message)")
            } catch {
                skipped.append("\(path) line \(lineNumber): \(error)")
            }
        }
    }

    /// The training series `name`, or nil when the file never logged it.
    public func train(_ name: String) -> MetricSeries? { train[name] }

    /// The evaluation series `name` (given without `eval_`), or nil.
    public func eval(_ name: String) -> MetricSeries? { eval[name] }

    /// The smallest and largest step of any row.
    public var stepRange: ClosedRange<Double>? {
        let steps = rows.compactMap { row in row.first { $0.0 == "step" }?.1 }.filter(\.isFinite)
        guard let lo = steps.min(), let hi = steps.max() else { return nil }
        return lo...hi
    }

    // MARK: - Rows

    private struct RowError: Error { let message: String }

    private mutating func add(line: String) throws {
        // Python's rules: a NaN or Infinity written by another tool reads as what it says.
        guard case .object(let fields) = try JSONReader.parse(line, rules: .python) else {
            throw RowError(message: "not a JSON object")
        }
        var row: [(String, Double)] = []
        for (key, node) in fields {
            switch node {
            case .int(let i): row.append((key, Double(i)))
            case .double(let d): row.append((key, d))
            case .null: row.append((key, .nan))
            default: continue  // a string or flag (none today) is not a curve
            }
        }
        guard let step = row.first(where: { $0.0 == "step" })?.1, step.isFinite else {
            throw RowError(message: "no numeric \"step\"")
        }
        let isEval = row.contains { $0.0.hasPrefix(Self.evalPrefix) }
        for (key, value) in row where key != "step" {
            if key.hasPrefix(Self.evalPrefix) {
                let name = String(key.dropFirst(Self.evalPrefix.count))
                if eval[name] == nil {
                    eval[name] = MetricSeries(name: name)
                    evalNames.append(name)
                }
                eval[name]!.points.append(MetricPoint(step: step, value: value))
            } else if !(isEval && key == "epoch") {
                // An evaluation row's epoch restates the training position; it is not a training value.
                if train[key] == nil {
                    train[key] = MetricSeries(name: key)
                    trainNames.append(key)
                }
                train[key]!.points.append(MetricPoint(step: step, value: value))
            }
        }
        rows.append(row)
    }
}
