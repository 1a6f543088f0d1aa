// A saved adapter directory as TRL leaves one: the PEFT files, the base's tokenizer files (tokenizer.json,
// tokenizer_config.json, chat_template.jinja) and a README.md model card saying what the adapter is, how
// it was trained and how to load or merge it. Built beside the target and renamed into place.

import Foundation
import JSON
import Model
import ModelFiles
import TensorFile

/// What a training run tells the model card; plain values, so the trainer's option types stay its own.
public struct RunSummary: Sendable {
    /// Options as given (`lr` → `5e-05`), shown in a table in key order.
    public var arguments: [(key: String, value: String)]
    /// The training data file, and the held-out file when there is one.
    public var data: String
    public var evalData: String?
    public var steps: Int
    /// The last logged training row and the last evaluation row (TRL's metric names).
    public var metrics: [(key: String, value: Double)]
    public var evalMetrics: [(key: String, value: Double)]

    public init(
        arguments: [(key: String, value: String)], data: String, evalData: String? = nil, steps: Int,
        metrics: [(key: String, value: Double)] = [], evalMetrics: [(key: String, value: Double)] = []
    ) {
        self.arguments = arguments
        self.data = data
        self.evalData = evalData
        self.steps = steps
        self.metrics = metrics
        self.evalMetrics = evalMetrics
    }
}

extension RunSummary {
    /// Every field of an encodable options value as (key, value) rows, nested keys dotted (`lora.r`),
    /// snake_case as run.json spells them; nil fields left out, arrays as compact JSON.
    public static func rows(of options: some Encodable) -> [(key: String, value: String)] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(options), let node = try? JSONReader.parse(data, rules: .python) else { return [] }
        func text(_ n: JSONNode) -> JSONText {
            switch n {
            case .null: .null
            case .bool(let b): .bool(b)
            case .int(let i): .int(i)
            case .double(let d): .double(d)
            case .string(let s): .string(s)
            case .array(let a): .array(a.map(text))
            case .object(let o): .object(o.map { ($0.key, text($0.value)) })
            }
        }
        var rows: [(key: String, value: String)] = []
        func walk(_ n: JSONNode, _ key: String) {
            switch n {
            case .null: break
            case .object(let fields): for (k, v) in fields { walk(v, key.isEmpty ? k : key + "." + k) }
            case .string(let s): rows.append((key, s))
            default: rows.append((key, text(n).rendered(indent: nil)))
            }
        }
        walk(node, "")
        return rows
    }
}

public enum SavedAdapter {
    public static let cardFileName = "README.md"

    /// Writes `adapter` for the base `baseFile` into `directory` (replacing an earlier one whole):
    /// PEFT files, tokenizer files and the model card. Returns the names written.
    @discardableResult
    public static func write(_ adapter: LoRAAdapter, to directory: String, baseFile: MappedTensorFile, run: RunSummary?) throws
        -> [String]
    {
        let out = try DirectoryExport(target: directory)
        try write(adapter, into: out.temporary, shownAs: directory, baseFile: baseFile, run: run)
        try out.commit()
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    /// The same into an existing (temporary) directory that will become `shownAs` (the path the card names).
    static func write(_ adapter: LoRAAdapter, into directory: String, shownAs: String, baseFile: MappedTensorFile, run: RunSummary?) throws {
        let meta = baseFile.metadata
        let baseModel = BaseModelName.of(meta)
        try PEFTAdapter.save(adapter, directory: directory, baseModel: baseModel)
        try HFExporter.writeTokenizerFiles(meta, into: directory)
        let card = modelCard(adapter.config, baseModel: baseModel, baseFile: baseFile, directory: shownAs, run: run)
        try PEFTAdapter.writeText(card, to: directory + "/" + cardFileName)
    }

    // MARK: - Model card

    /// README.md: YAML front matter as the hub reads it, then base, training, metrics, loading and merging.
    static func modelCard(_ c: LoRAConfig, baseModel: String, baseFile: MappedTensorFile, directory: String, run: RunSummary?) -> String {
        let known = baseModel != BaseModelName.placeholder
        let baseName = (baseFile.path as NSString).lastPathComponent
        var s = "---\n"
        if known && ModelOrigin.looksLikeHubID(baseModel) { s += "base_model: \(baseModel)\n" }
        s += "library_name: peft\npipeline_tag: text-generation\ntags:\n- lora\n- dpo\n- leandpo\n---\n\n"
        s += "# LoRA adapter (LeanDPO)\n\n"
        s += "A LoRA adapter (r = \(c.r), alpha = \(number(c.alpha))\(c.rslora ? ", rsLoRA" : ""), on "
        s += LoRATarget.moduleNames(c.targets, fused: baseFile.config.fusedProjections).map { "`\($0)`" }.joined(separator: ", ")
        s += ") trained with LeanDPO"
        s += run == nil ? ".\n\n" : " by direct preference optimization on the CPU.\n\n"

        s += "## Base model\n\n"
        s += "- `base_model_name_or_path`: `\(baseModel)`\n"
        s += "- trained on the LeanDPO base file `\(baseName)` (fingerprint `\(baseFile.fingerprint)`, converted from "
        s += "\(baseFile.metadata.provenance.sourceFormat) `\(baseFile.metadata.provenance.sourceName)`)\n"
        if !known {
            s += "\nThe base's Hugging Face id or directory was not recorded when it was converted. Before loading with "
            s += "`AutoPeftModelForCausalLM`, set `base_model_name_or_path` in `adapter_config.json` to it (for example "
            s += "`HuggingFaceTB/SmolLM2-135M-Instruct`), or convert the base with `leandpo convert --base-model ID` and save again.\n"
        }
        s += "\n"

        if let run {
            s += "## Training\n\n"
            s += "- data: `\(run.data)`\(run.evalData.map { ", held out: `\($0)`" } ?? "")\n"
            s += "- steps: \(run.steps)\n\n"
            if !run.arguments.isEmpty {
                s += "| option | value |\n|---|---|\n"
                for (k, v) in run.arguments { s += "| `\(k)` | \(cell(v)) |\n" }
                s += "\n"
            }
            if !run.metrics.isEmpty || !run.evalMetrics.isEmpty {
                s += "## Metrics\n\n| metric | value |\n|---|---|\n"
                for (k, v) in run.metrics + run.evalMetrics { s += "| `\(k)` | \(number(v)) |\n" }
                s += "\n"
            }
        }

        let dirName = directory
        s += "## Load with PEFT\n\n```python\n"
        if known {
            s += "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer\n\n"
            s += "model = AutoPeftModelForCausalLM.from_pretrained(\"\(dirName)\")\n"
        } else {
            s += "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            s += "base = AutoModelForCausalLM.from_pretrained(\"BASE_MODEL_ID_OR_DIRECTORY\")\n"
            s += "model = PeftModel.from_pretrained(base, \"\(dirName)\")\n"
        }
        s += "tokenizer = AutoTokenizer.from_pretrained(\"\(dirName)\")\n```\n\n"
        s += "## Merge with LeanDPO\n\n```sh\n"
        s += "leandpo export --model \(baseName) --adapter \(dirName) --to merged/        # Hugging Face directory\n"
        s += "leandpo export --model \(baseName) --adapter \(dirName) --to merged.gguf    # llama.cpp\n```\n"
        return s
    }

    /// A number as a person reads it: integers plain, others to 6 significant digits.
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
        return String(format: "%.6g", x)
    }

    /// A table cell: `|` and line breaks would break the Markdown row.
    static func cell(_ v: String) -> String {
        "`" + v.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") + "`"
    }
}
