// `leandpo eval`: per-pair summed completion log-probs under base + adapter (policy) and base
// (reference), their implicit rewards, and TRL's metrics over the file.

import ArgumentParser
import Foundation
import Model
import TensorFile
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Score preference pairs: log-probs, implicit rewards, TRL metrics.")

    @Option(help: "Base model (MTF).") var model: String
    @Option(help: "Preference data (JSONL or a JSON array).") var data: String
    @Option(help: "A checkpoint, PEFT adapter directory, or training output directory (default: none, policy = reference).") var adapter: String?
    @Option(help: "Write one JSON object per pair here.") var output: String?
    @Option(help: "DPO beta for the implicit rewards.") var beta = 0.1
    @Option(help: "Max tokens of prompt+completion.") var maxLength = 1024
    @Option(help: "keep_start or keep_end.") var truncationMode = "keep_start"
    @Flag(help: "Skip and count invalid records.") var skipInvalid = false
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            guard let truncation = TruncationMode(rawValue: truncationMode) else {
                throw ArgumentError("--truncation-mode must be keep_start or keep_end")
            }
            let file = try MappedTensorFile(path: model)
            let text = try ModelText(file.metadata)
            let m = try LlamaModel(file: file, threads: threads)
            let lora = try adapter.map { try AdapterSource.load($0, base: file) }
            let set = try PreferenceDataset.load(
                path: data, context: text.context, options: DataOptions(maxLength: maxLength, truncation: truncation, skipInvalid: skipInvalid))
            printErr(set.summary.description)
            let progress = ProgressLine()
            let t0 = Date()
            let tokens = set.pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count }
            let (ref, refLogits) = try PairScoring.score(set.pairs, model: m, adapter: nil) { d, n in
                progress.update("reference \(ProgressLine.bar(Double(d) / Double(n))) \(d)/\(n)", force: d == n)
            }
            progress.finish()
            let policy: ReferenceLogps
            let logits: (chosen: [Double], rejected: [Double])
            if let lora {
                (policy, logits) = try PairScoring.score(set.pairs, model: m, adapter: lora) { d, n in
                    progress.update("policy    \(ProgressLine.bar(Double(d) / Double(n))) \(d)/\(n)", force: d == n)
                }
                progress.finish()
            } else {
                (policy, logits) = (ref, refLogits)
            }
            let seconds = Date().timeIntervalSince(t0)
            var rc: [Double] = [], rr: [Double] = []
            var lines: [String] = []
            for i in set.pairs.indices {
                let c = beta * (policy.chosen[i] - ref.chosen[i])
                let r = beta * (policy.rejected[i] - ref.rejected[i])
                rc.append(c)
                rr.append(r)
                let o: [String: Any] = [
                    "index": i, "source": set.pairs[i].location.description,
                    "policy_chosen_logps": policy.chosen[i], "policy_rejected_logps": policy.rejected[i],
                    "reference_chosen_logps": ref.chosen[i], "reference_rejected_logps": ref.rejected[i],
                    "chosen_reward": c, "rejected_reward": r, "margin": c - r,
                    "chosen_tokens": set.pairs[i].chosen.scoredTokens, "rejected_tokens": set.pairs[i].rejected.scoredTokens,
                ]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
            }
            if let output {
                let w = try AtomicFileWriter(path: output)
                try w.write(Array((lines.joined(separator: "\n") + "\n").utf8))
                try w.commit()
            }
            var metrics = Metrics.rewardMetrics(chosenRewards: rc, rejectedRewards: rr, chosenLogps: policy.chosen, rejectedLogps: policy.rejected)
            metrics[MetricKey.logitsChosen] = Metrics.tokenMean(logits.chosen, set.pairs.map(\.chosen.scoredTokens))
            metrics[MetricKey.logitsRejected] = Metrics.tokenMean(logits.rejected, set.pairs.map(\.rejected.scoredTokens))
            metrics["pairs"] = Double(set.pairs.count)
            let passes = lora == nil ? 1 : 2
            metrics["tokens_per_second"] = Double(tokens * passes) / max(seconds, 1e-9)
            let keys = metrics.keys.sorted()
            print("{" + keys.map { "\"\($0)\":\(metrics[$0]!)" }.joined(separator: ",") + "}")
        }
    }
}
