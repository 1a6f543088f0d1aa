// Compares two result lines of the same job (say uncapped vs. under a memory cap, or f32 vs. bf16): the
// per-step losses side by side, whether they are bit-identical, their largest difference, and the
// speed and memory ratios. With --require-equal-losses it fails unless every loss matches exactly; with
// --require-within T unless every loss is within T (for comparing builds whose summation order differs).

import ArgumentParser
import Foundation
import JSON

struct CompareResults: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Compare two result lines (files holding leandpo-bench output).")

    @Argument(help: "The baseline result (a file whose last JSON line is a leandpo-bench result).") var baseline: String
    @Argument(help: "The variant result.") var variant: String
    @Option(help: "A name for the comparison (e.g. memory-cap, bf16).") var name = "compare"
    @Flag(help: "Exit with an error unless the losses are bit-identical.") var requireEqualLosses = false
    @Option(help: "Exit with an error unless every loss differs by at most this much.") var requireWithin: Double?

    func run() throws {
        let (a, la) = try Self.load(baseline), (b, lb) = try Self.load(variant)
        guard !la.isEmpty, la.count == lb.count else {
            throw BenchError("\(baseline) has \(la.count) losses, \(variant) has \(lb.count); compare runs of the same job and steps")
        }
        let diffs = zip(la, lb).map { abs($0 - $1) }
        let equal = la == lb
        func ratio(_ k: String) -> JSONText {
            guard let x = a[k]?.double, let y = b[k]?.double, x > 0 else { return .null }
            return .number(y / x, digits: 3)
        }
        func describe(_ o: [String: JSONValue]) -> JSONText {
            .object(
                ["job", "model_dtype", "memory_cap_mb", "sec_per_step_median", "tokens_per_s", "peak_rss_mb", "peak_anon_mb", "cgroup_peak_mb"]
                    .compactMap { k in
                        guard let v = o[k] else { return nil }
                        if let s = v.string { return (k, .string(s)) }
                        if let n = v.double { return (k, .number(n)) }
                        return (k, .null)
                    })
        }
        var line = JSONLine()
        line.add([
            ("compare", .string(name)), ("baseline", describe(a)), ("variant", describe(b)),
            ("losses_baseline", .numbers(la)), ("losses_variant", .numbers(lb)),
            ("losses_equal", .bool(equal)), ("max_abs_loss_diff", .number(diffs.max() ?? 0, digits: nil)),
            ("tolerance", .number(requireWithin, digits: nil)),
            ("losses_within_tolerance", requireWithin.map { t in .bool(diffs.allSatisfy { $0 <= t }) } ?? .null),
            ("sec_per_step_ratio", ratio("sec_per_step_median")), ("peak_rss_ratio", ratio("peak_rss_mb")),
            ("peak_anon_ratio", ratio("peak_anon_mb")),
        ])
        line.print()
        if requireEqualLosses && !equal {
            throw BenchError("the losses differ (largest difference \(diffs.max() ?? 0))")
        }
        if let t = requireWithin, !diffs.allSatisfy({ $0 <= t }) {
            throw BenchError("the losses differ by up to \(diffs.max() ?? 0), more than \(t)")
        }
    }

    /// The last line of `path` that parses as a JSON object, and its losses (the package's JSON reader
    /// reads numbers exactly, so equal losses compare equal to the bit).
    static func load(_ path: String) throws -> ([String: JSONValue], [Double]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw BenchError("\(path): cannot read") }
        for line in text.split(separator: "\n").reversed() {
            guard let node = try? JSONReader.parse(Array(line.utf8)), let o = JSONValue(node).object else { continue }
            let losses = o["losses"]?.array?.compactMap(\.double) ?? []
            return (o, losses)
        }
        throw BenchError("\(path): no JSON result line")
    }
}
