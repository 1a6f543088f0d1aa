// `leandpo eval`: per-pair summed completion log-probs under base + adapter (policy) and the reference (the
// base, or base + --reference-adapter: the adapter a run started from), their implicit rewards, and TRL's
// metrics over the file, computed as the trainer's evaluation computes them. Data and loss options are
// train's, read through the same option table.

import Adapters
import ArgumentParser
import Foundation
import JSON
import Model
import TensorFile
import Training

#if canImport(Glibc)
    import Glibc
#endif

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score preference pairs (or, with --loss kto, unpaired examples): log-probs, implicit rewards, loss and TRL's metrics.",
        usage: "leandpo eval --model M.mtf --data pairs.jsonl [--adapter A] [--reference-adapter R] [--output rows.jsonl] [options]",
        discussion: "Data and loss options are train's (same names, defaults and checks):\n\n" + TrainOptions.helpText(groups: Eval.groups))

    /// The groups of train's options that eval reads; `batch_size` sets the micro-batches metrics are averaged over.
    static let groups: [TrainOption.Group] = [.data, .loss]

    @OptionGroup var base: BaseModelOptions
    @Option(help: ArgumentHelp(TrainOption.help("data"), valueName: "PATH")) var data: String
    @OptionGroup var adapter: AdapterOption
    @Option(
        help: ArgumentHelp(
            "The reference model's adapter (as --adapter): base + this one is the reference, as in a training run that started from it with --init-adapter; default the base.",
            valueName: "PATH"))
    var referenceAdapter: String?
    @Option(help: "Write one JSON object per pair here.") var output: String?
    @Flag(help: "Replace an existing --output file (never --model, --data, --adapter or --reference-adapter).") var force = false
    @Option(help: ArgumentHelp(TrainOption.help("batch_size"), valueName: "INT")) var batchSize = TrainArguments().batchSize
    @Argument(parsing: .allUnrecognized, help: .hidden) var options: [String] = []

    /// train's data and loss options from the command line, checked by TrainArguments.validate.
    func arguments() throws -> TrainArguments {
        var a = TrainArguments(model: base.model, data: data, output: output ?? "-")
        a.batchSize = batchSize
        let given = try TrainOptions.parseCommandLine(options)
        for (key, _) in given {
            guard let o = TrainOption.lookup(key), Self.groups.contains(o.group)
            else { throw ArgumentError("\(key): not an eval option (see leandpo eval --help)") }
        }
        _ = try TrainOptions.apply(given, to: &a, source: "command line", laterWins: true)
        a.shuffle = false  // eval keeps file order (and KTO's KL completions need it)
        try a.validate()
        guard !a.loss.contains(.orpo) else { throw ArgumentError("--loss orpo: eval does not score ORPO's whole-sequence term yet") }
        return a
    }

    func run() throws {
        try reportingErrors {
            let args = try arguments()
            if let output {
                try Self.checkOutput(output, inputs: [base.model, data] + [adapter.adapter, referenceAdapter].compactMap { $0 }, force: force)
            }
            let file = try base.open()
            let text = try ModelText(file: file)
            let m = try base.load(file)
            let lora = try adapter.adapter.map { try AdapterSource.load($0, base: file) }
            let referenceLora = try referenceAdapter.map { try AdapterSource.load($0, base: file) }
            let unpaired = args.loss.first { $0.isUnpaired }
            let set =
                try unpaired.map {
                    try UnpairedDataset.load(path: data, context: text.context, options: args.dataOptions)
                        .scoringDataset(batchSize: args.batchSize, withKL: KTOLoss.needsKL($0), options: args.dataOptions)
                } ?? PreferenceDataset.load(path: data, context: text.context, options: args.dataOptions)
            printErr(set.summary.description)
            let progress = ProgressLine()
            let t0 = Date()
            let tokens = set.pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count }
            let (ref, refLogits) = try PairScoring.score(set.pairs, model: m, adapter: referenceLora) { d, n in
                progress.update("reference \(ProgressLine.bar(Double(d) / Double(n))) \(d)/\(n)", force: d == n)
            }
            progress.finish()
            let policy: ReferenceLogps
            let logits: (chosen: [Double], rejected: [Double])
            let policyPass = lora != nil || referenceLora != nil
            if policyPass {
                (policy, logits) = try PairScoring.score(set.pairs, model: m, adapter: lora) { d, n in
                    progress.update("policy    \(ProgressLine.bar(Double(d) / Double(n))) \(d)/\(n)", force: d == n)
                }
                progress.finish()
            } else {
                (policy, logits) = (ref, refLogits)
            }
            let seconds = Date().timeIntervalSince(t0)
            if let output {
                var text = ""
                for (i, pair) in set.pairs.enumerated() {
                    let row =
                        set.labels.map { Self.unpairedRow(i, pair, label: $0[i], policy: policy, reference: ref, beta: args.beta) }
                        ?? Self.row(i, pair, policy: policy, reference: ref, beta: args.beta)
                    text += row.rendered(indent: nil) + "\n"
                }
                let w = try AtomicFileWriter(path: output)
                try w.write(Array(text.utf8))
                try w.commit()
            }
            var summary: [(key: String, value: Double)]
            if let labels = set.labels {
                summary = Evaluation.unpairedMetrics(
                    pairs: set.pairs, labels: labels, policy: policy, policyLogitSums: logits.chosen, reference: ref, config: args.lossConfig,
                    batchSize: args.batchSize)
                summary.append(("examples", Double(set.pairs.count)))
            } else {
                summary = Evaluation.metrics(
                    pairs: set.pairs, policy: policy, policyLogitSums: logits, reference: ref, config: args.lossConfig, batchSize: args.batchSize)
                summary.append(("pairs", Double(set.pairs.count)))
            }
            summary.append(("tokens_per_second", Double(tokens * (policyPass ? 2 : 1)) / max(seconds, 1e-9)))
            print(JSONText.object(summary.sorted { $0.key < $1.key }.map { ($0.key, JSONText.finite($0.value)) }).rendered(indent: nil))
        }
    }

    /// One unpaired example's row: its label, log-probs of its completion under both models and its implicit
    /// reward (the KL sequence's log-probs feed only the loss's `kl`).
    static func unpairedRow(_ i: Int, _ pair: TokenizedPair, label: Bool, policy: ReferenceLogps, reference: ReferenceLogps, beta: Double)
        -> JSONText
    {
        .object([
            ("index", .int(i)), ("line", .int(pair.location.number)), ("source", .string(pair.location.description)), ("label", .bool(label)),
            ("policy_logps", .finite(policy.chosen[i])), ("reference_logps", .finite(reference.chosen[i])),
            ("reward", .finite(beta * (policy.chosen[i] - reference.chosen[i]))), ("tokens", .int(pair.chosen.scoredTokens)),
        ])
    }

    /// One pair's row: where it came from (`line`: its 1-based line, or array index, in the file), its
    /// log-probs under both models and the implicit rewards.
    static func row(_ i: Int, _ pair: TokenizedPair, policy: ReferenceLogps, reference: ReferenceLogps, beta: Double) -> JSONText {
        let c = beta * (policy.chosen[i] - reference.chosen[i])
        let r = beta * (policy.rejected[i] - reference.rejected[i])
        return .object([
            ("index", .int(i)), ("line", .int(pair.location.number)), ("source", .string(pair.location.description)),
            ("policy_chosen_logps", .finite(policy.chosen[i])), ("policy_rejected_logps", .finite(policy.rejected[i])),
            ("reference_chosen_logps", .finite(reference.chosen[i])), ("reference_rejected_logps", .finite(reference.rejected[i])),
            ("chosen_reward", .finite(c)), ("rejected_reward", .finite(r)), ("margin", .finite(c - r)),
            ("chosen_tokens", .int(pair.chosen.scoredTokens)), ("rejected_tokens", .int(pair.rejected.scoredTokens)),
        ])
    }

    /// --output may not be one of the command's inputs (same path or same file), --force or not, and
    /// replaces another existing file only with --force. Checked before any work.
    static func checkOutput(_ output: String, inputs: [String], force: Bool) throws {
        var link = stat()
        guard lstat(output, &link) == 0 else { return }
        var out = stat()
        let resolved = stat(output, &out) == 0
        for input in inputs {
            var st = stat()
            if resolved, stat(input, &st) == 0, st.st_dev == out.st_dev, st.st_ino == out.st_ino {
                throw ArgumentError("--output \(output) is the input \(input); writing it would destroy it. Choose another --output")
            }
        }
        if resolved, (out.st_mode & S_IFMT) == S_IFDIR { throw ArgumentError("--output \(output) is a directory; give a file name") }
        if !force { throw ArgumentError("--output \(output) already exists (HINT: add --force to replace it)") }
    }
}
