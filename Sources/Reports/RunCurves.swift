// Which curves a training run's picture shows, and how: the DPO panels every run gets, the warning-sign
// panels (drift from the reference, length exploitation) when a run logs them, then every other metric.

import Foundation

/// Builds the SVGPlot of a metrics.jsonl.
public enum RunCurves {
    /// A panel: its metrics (training and evaluation series of each are overlaid) and how to show them.
    public struct Spec: Sendable {
        public var id: String
        public var title: String
        public var metrics: [String]
        public var fixedRange: ClosedRange<Double>?

        public init(id: String, title: String, metrics: [String], fixedRange: ClosedRange<Double>? = nil) {
            self.id = id
            self.title = title
            self.metrics = metrics
            self.fixedRange = fixedRange
        }
    }

    /// Drawn for every run, with a note in place of curves when the run did not log the metric.
    public static let core: [Spec] = [
        Spec(id: "loss", title: "loss", metrics: ["loss"]),
        Spec(id: "reward-margins", title: "reward margin (chosen − rejected)", metrics: ["rewards/margins"]),
        Spec(id: "reward-accuracy", title: "reward accuracy", metrics: ["rewards/accuracies"], fixedRange: 0...1),
        Spec(id: "rewards", title: "rewards", metrics: ["rewards/chosen", "rewards/rejected"]),
        Spec(id: "logps", title: "log-probs (sum over completion)", metrics: ["logps/chosen", "logps/rejected"]),
        Spec(id: "grad-norm", title: "grad norm (before clipping)", metrics: ["grad_norm"]),
        Spec(id: "learning-rate", title: "learning rate", metrics: ["learning_rate"]),
    ]

    /// The warning signs of issue 16, drawn when the run logs any of their metrics.
    public static let warningSigns: [Spec] = [
        Spec(id: "logratio", title: "log-ratio to reference, per token", metrics: ["logratio/chosen", "logratio/rejected"]),
        Spec(id: "kl", title: "KL(policy ‖ reference), per token", metrics: ["kl"]),
        Spec(id: "length", title: "completion length (tokens)", metrics: ["length/chosen", "length/rejected"]),
        Spec(id: "length-margin-corr", title: "corr(margin, length difference)", metrics: ["length_margin_corr"], fixedRange: -1...1),
    ]

    /// Titles of the other metrics the trainer logs today; any metric without one is titled by its name.
    static let titles = [
        "logits": "mean logit over completion tokens",
        "tokens_per_second": "tokens per second",
        "peak_memory_mb": "peak resident memory (MiB)",
    ]

    /// Logged but not worth a curve.
    static let hidden: Set<String> = ["epoch"]

    static let trainColor = "#1f77b4"
    static let evalColor = "#e6550d"
    static let pairColors = ["#1f77b4", "#d62728"]

    /// The picture of `metrics`, titled with the run's name.
    public static func plot(_ metrics: RunMetrics, run: String) -> SVGPlot {
        SVGPlot(title: "LeanDPO training run: \(run)", subtitle: subtitle(metrics), panels: specs(for: metrics).map { panel($0, metrics) })
    }

    /// The panels for `metrics`, in order: core, warning signs present, then every other metric (a
    /// `name/chosen` and `name/rejected` pair shares one panel).
    public static func specs(for metrics: RunMetrics) -> [Spec] {
        let logged = Set(metrics.trainNames + metrics.evalNames)
        var specs = core + warningSigns.filter { !logged.isDisjoint(with: $0.metrics) }
        var placed = Set(specs.flatMap(\.metrics)).union(hidden)
        var seen = Set<String>()
        for name in (metrics.trainNames + metrics.evalNames) where !placed.contains(name) && seen.insert(name).inserted {
            if name.hasSuffix("/chosen") {
                let base = String(name.dropLast("/chosen".count))
                let pair = [name, base + "/rejected"].filter(logged.contains)
                specs.append(Spec(id: slug(base), title: titles[base] ?? base, metrics: pair))
                placed.formUnion(pair)
            } else if name.hasSuffix("/rejected"), logged.contains(String(name.dropLast("/rejected".count)) + "/chosen") {
                continue  // drawn with its /chosen partner
            } else {
                specs.append(Spec(id: slug(name), title: titles[name] ?? name.replacingOccurrences(of: "_", with: " "), metrics: [name]))
                placed.insert(name)
            }
        }
        return specs
    }

    static func panel(_ spec: Spec, _ metrics: RunMetrics) -> SVGPlot.Panel {
        var series: [SVGPlot.Series] = []
        let paired = spec.metrics.count > 1
        for (i, name) in spec.metrics.enumerated() {
            let role = paired ? String(name.split(separator: "/").last ?? Substring(name)) : nil
            let color = paired ? pairColors[i % pairColors.count] : trainColor
            if let s = metrics.train(name) {
                series.append(SVGPlot.Series(label: role ?? "train", color: color, isEval: false, points: s.points))
            }
            if let s = metrics.eval(name) {
                series.append(
                    SVGPlot.Series(label: role.map { "\($0) (eval)" } ?? "eval", color: paired ? color : evalColor, isEval: true, points: s.points))
            }
        }
        // Training series first, then evaluation, so a wrapped legend reads one kind per line.
        series = series.filter { !$0.isEval } + series.filter(\.isEval)
        let note = series.isEmpty ? "not in metrics.jsonl" : "no finite values (all null)"
        return SVGPlot.Panel(id: spec.id, title: spec.title, series: series, fixedRange: spec.fixedRange, emptyNote: note)
    }

    static func slug(_ name: String) -> String {
        String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

    static func subtitle(_ m: RunMetrics) -> String {
        var parts: [String] = []
        let trainRows = m.train("loss")?.points.count ?? m.train.values.map(\.points.count).max() ?? 0
        if let r = m.stepRange {
            let evaluations = m.eval("loss")?.points.count ?? m.eval.values.map(\.points.count).max() ?? 0
            let steps = r.lowerBound == r.upperBound ? "step \(Int(r.lowerBound))" : "steps \(Int(r.lowerBound))–\(Int(r.upperBound))"
            parts.append("\(count(trainRows, "logged training row")) and \(count(evaluations, "evaluation")), \(steps)")
        }
        func last(_ s: MetricSeries?, _ label: String) {
            if let p = s?.finitePoints.last { parts.append("\(label) \(format(p.value)) at step \(Int(p.step))") }
        }
        last(m.train("loss"), "last loss")
        last(m.eval("loss"), "eval loss")
        last(m.eval("rewards/accuracies"), "eval reward accuracy")
        if !m.skipped.isEmpty { parts.append("\(m.skipped.count) unreadable lines skipped") }
        return parts.joined(separator: " · ")
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    static func format(_ v: Double) -> String {
        abs(v) >= 1e-3 && abs(v) < 1e5 || v == 0 ? String(format: "%.4g", v) : String(format: "%.3e", v)
    }
}
