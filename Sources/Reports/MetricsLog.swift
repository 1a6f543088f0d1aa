// metrics.jsonl, the run's numbers for tools: one JSON object per logged step or evaluation, appended as
// it happens. Keys keep the order given, `step` is an integer, non-finite values are written as null.

import JSON

/// Where a run's logged rows go: metrics.jsonl always, a TensorBoard event file on request. A row is the
/// trainer's `[(name, value)]` with a `step` entry; every sink takes the same rows.
public protocol MetricsSink: AnyObject {
    func write(_ values: [(String, Double)]) throws
}

/// Appends one JSON object per call to a metrics.jsonl file; a failed write (a full disk) throws.
public final class MetricsLog: MetricsSink {
    public let path: String
    private let file: AppendFile

    /// Opens `path` for appending (created when missing; earlier lines are kept, as a resumed run needs).
    public init(path: String) throws {
        self.path = path
        file = try AppendFile(path: path)
    }

    /// Writes `values` as one line, in the order given.
    public func write(_ values: [(String, Double)]) throws {
        try file.write(Array((Self.line(values) + "\n").utf8))
    }

    /// The JSON text of one row (without the newline).
    public static func line(_ values: [(String, Double)]) -> String {
        JSONText.object(values.map { key, value in (key, key == "step" ? stepValue(value) : .double(value)) }).rendered(indent: nil)
    }

    /// `step` as an integer when it is one (always, from the trainer); anything else as a number or null.
    private static func stepValue(_ v: Double) -> JSONText {
        v.isFinite && v.rounded() == v && abs(v) < 9.0e15 ? .int(Int(v)) : .double(v)
    }
}
