// Summarizes `tools/bench --ablate`: result lines of the train job grouped by their "variant" (baseline,
// or the one optimization switched off), each figure the median over that variant's rounds, and what
// switching the optimization off costs relative to the baseline. One JSON line on stdout, and the same
// as a Markdown table on stderr for the README and closing notes.

import ArgumentParser
import Foundation
import JSON

struct AblationSummary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablation", abstract: "Summarize train results by variant against the baseline (tools/bench --ablate).")

    @Argument(help: "Files holding leandpo-bench train results (the last JSON line of each).") var results: [String]

    static let figures = [
        "sec_per_step_median", "cpu_sec_per_step_median", "tokens_per_s", "stream_tokens_per_step", "matmul_gflop_per_step",
        "peak_rss_mb", "peak_anon_mb",
    ]

    struct Variant {
        var name: String
        var runs: [[String: JSONValue]] = []
        var losses: [[Double]] = []
        func figure(_ key: String) -> Double? {
            let v = runs.compactMap { $0[key]?.double }
            return v.isEmpty ? nil : median(v)
        }
    }

    func run() throws {
        var variants: [Variant] = []
        for path in results {
            let (o, losses) = try CompareResults.load(path)
            guard o["job"]?.string == "train" else { throw BenchError("\(path): not a train result") }
            let name = o["variant"]?.string ?? "baseline"
            if let i = variants.firstIndex(where: { $0.name == name }) {
                variants[i].runs.append(o)
                variants[i].losses.append(losses)
            } else {
                variants.append(Variant(name: name, runs: [o], losses: [losses]))
            }
        }
        guard let base = variants.first(where: { $0.name == "baseline" }) else { throw BenchError("no baseline result among the files") }
        let baseLosses = base.losses[0]

        var rows: [JSONText] = []
        var table = [
            "| variant | runs | s/step | CPU s/step | tokens/s | stream tokens/step | peak RSS MiB | peak anon MiB | max loss diff |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for v in variants {
            let diff = v.losses.flatMap { l in zip(l, baseLosses).map { abs($0 - $1) } }.max() ?? .nan
            var fields: [(String, JSONText)] = [("variant", .string(v.name)), ("runs", .int(v.runs.count))]
            for k in Self.figures { fields.append((k, .number(v.figure(k), digits: 3))) }
            for k in ["sec_per_step_median", "cpu_sec_per_step_median", "peak_rss_mb"] {
                if let x = v.figure(k), let b = base.figure(k), b > 0 { fields.append((k + "_ratio", .number(x / b, digits: 3))) }
            }
            fields.append(("max_abs_loss_diff_vs_baseline", .number(diff, digits: nil)))
            rows.append(.object(fields))
            func cell(_ k: String, _ digits: Int, ratio: Bool = true) -> String {
                guard let x = v.figure(k) else { return "–" }
                let s = String(format: "%.\(digits)f", x)
                guard ratio, v.name != "baseline", let b = base.figure(k), b > 0 else { return s }
                return s + String(format: " (%.2f×)", x / b)
            }
            table.append(
                "| \(v.name) | \(v.runs.count) | \(cell("sec_per_step_median", 2)) | \(cell("cpu_sec_per_step_median", 2)) | "
                    + "\(cell("tokens_per_s", 0)) | \(cell("stream_tokens_per_step", 0, ratio: false)) | \(cell("peak_rss_mb", 0)) | "
                    + "\(cell("peak_anon_mb", 0)) | \(String(format: "%.1e", diff)) |")
        }
        FileHandle.standardError.write(Data((table.joined(separator: "\n") + "\n").utf8))
        var line = JSONLine()
        line.add([("ablation", .array(rows)), ("commit", .string(base.runs[0]["commit"]?.string ?? "unknown"))])
        line.print()
    }
}
