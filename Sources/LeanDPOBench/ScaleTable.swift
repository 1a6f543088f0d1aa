// Summarizes `tools/bench-scale`: train results of several models (shapes × base dtypes), each run once
// uncapped and once under a memory cap, as the README's scale table. One row per model: the uncapped
// step and memory, then the capped step, its ratio to the uncapped one and whether the losses are the
// same bits. A Markdown table on stdout.

import ArgumentParser
import Foundation
import JSON

struct ScaleTable: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale-table", abstract: "Tabulate train results per model, uncapped and capped (tools/bench-scale).")

    @Argument(help: "Files holding leandpo-bench train results (the last JSON line of each).") var results: [String]

    struct Model {
        var name: String
        var dtype: String
        var fileMiB: Double
        var uncapped: [String: JSONValue]?
        var uncappedLosses: [Double] = []
        var capped: [String: JSONValue]?
        var cappedLosses: [Double] = []
    }

    func run() throws {
        var models: [Model] = []
        for path in results {
            let (o, losses) = try CompareResults.load(path)
            guard o["job"]?.string == "train", let name = o["model"]?.string else { throw BenchError("\(path): not a train result") }
            let dtype = o["model_dtype"]?.string ?? "?"
            // make-shape's files are shape-NAME.DTYPE.mtf: the table names the shape.
            var shown = name
            if shown.hasPrefix("shape-") { shown.removeFirst("shape-".count) }
            if shown.hasSuffix(".\(dtype).mtf") { shown.removeLast(".\(dtype).mtf".count) }
            let i =
                models.firstIndex { $0.name == shown && $0.dtype == dtype }
                ?? {
                    models.append(Model(name: shown, dtype: dtype, fileMiB: o["model_file_mb"]?.double ?? 0))
                    return models.count - 1
                }()
            if o["memory_cap_mb"]?.double != nil {
                models[i].capped = o
                models[i].cappedLosses = losses
            } else {
                models[i].uncapped = o
                models[i].uncappedLosses = losses
            }
        }
        models.sort { $0.fileMiB < $1.fileMiB }
        var table = [
            "| model | base | file | s/step | CPU s/step | tokens/s | peak RSS | cap | s/step capped | peak RSS capped | losses capped vs uncapped | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        func f(_ o: [String: JSONValue]?, _ key: String, _ digits: Int) -> String {
            guard let x = o?[key]?.double else { return "–" }
            return String(format: "%.\(digits)f", x)
        }
        func mib(_ x: Double?) -> String {
            guard let x else { return "–" }
            return x >= 1024 ? String(format: "%.2f GiB", x / 1024) : String(format: "%.0f MiB", x)
        }
        func load(_ o: [String: JSONValue]?) -> String {
            let l = (o?["load_avg_start"]?.array ?? []).compactMap(\.double)
            return l.isEmpty ? "–" : String(format: "%.1f", l[0])
        }
        for m in models {
            let u = m.uncapped, c = m.capped
            var cappedStep = f(c, "sec_per_step_median", 2)
            if let a = c?["sec_per_step_median"]?.double, let b = u?["sec_per_step_median"]?.double, b > 0 {
                cappedStep += String(format: " (%.2f×)", a / b)
            }
            let lossCell: String
            if c == nil || u == nil {
                lossCell = "–"
            } else if m.cappedLosses == m.uncappedLosses {
                lossCell = "identical (\(m.cappedLosses.count) steps)"
            } else {
                let d = zip(m.cappedLosses, m.uncappedLosses).map { abs($0 - $1) }.max() ?? .nan
                lossCell = String(format: "max diff %.1e", d)
            }
            table.append(
                "| \(m.name) | \(m.dtype) | \(mib(m.fileMiB)) | \(f(u, "sec_per_step_median", 2)) | \(f(u, "cpu_sec_per_step_median", 2)) | "
                    + "\(f(u, "tokens_per_s", (u?["tokens_per_s"]?.double ?? 0) < 100 ? 1 : 0)) | \(mib(u?["peak_rss_mb"]?.double)) | \(mib(c?["memory_cap_mb"]?.double)) | "
                    + "\(cappedStep) | \(mib(c?["peak_rss_mb"]?.double)) | \(lossCell) | \(load(u ?? c)) |")
        }
        print(table.joined(separator: "\n"))
    }
}
