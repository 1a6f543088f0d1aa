// Shared helpers of the trainer tests: a tiny random base model written as an MTF, a toy byte tokenizer,
// small preference files, and a Trainer runner that records every event. Every test that runs a model
// lives under the serialized `TrainerTests` suite: the kernels' thread count is process-wide, and the
// exactness tests compare runs bit for bit, which holds only at one fixed thread count.

import Foundation
@_spi(Benchmarks) import Model
import SeededRandom
import TensorFile
import TestSupport
import Testing
import Training

@Suite(.serialized) struct TrainerTests {}

// MARK: - Tiny model

enum TinyModel {
    /// TestSupport's default tiny shape (D 16, 4 heads (2 kv) of 4, F 24, L 2) with V 64: forward+backward
    /// of a few pairs takes about a millisecond.
    static func config(vocab: Int = 64, tied: Bool = true) -> ModelConfig { TinyShape(vocab: vocab, tied: tied).config }

    /// Writes a random tiny model (TinyModelFile.randomWeights) and returns its path. `poisonToken` gets a
    /// NaN embedding row (and the LM head is untied, so only sequences holding that token score NaN).
    static func write(directory: String, seed: UInt64 = 1, poisonToken: Int? = nil) throws -> String {
        let config = config(tied: poisonToken == nil)
        var tensors = TinyModelFile.randomWeights(config, seed: seed)
        if let p = poisonToken {
            let d = config.hiddenSize
            for j in 0..<d { tensors["model.embed_tokens.weight"]![p * d + j] = .nan }
        }
        let path = directory + "/tiny-\(seed)\(poisonToken.map { "-poison\($0)" } ?? "").mtf"
        try TinyModelFile.write(
            path: path, metadata: TinyModelFile.metadata(config, source: "tiny-\(seed)", converter: "TrainerTests"), tensors: tensors)
        return path
    }
}

// MARK: - Toy tokenizer

/// Bytes map to ids 3 + byte % 61 (so V = 64 suffices); "</s>" is the EOS id 2; special tokens add BOS 1.
enum ByteToy {
    static func encode(_ text: String, special: Bool) -> [Int] {
        var ids = special ? [1] : []
        for (i, part) in text.components(separatedBy: "</s>").enumerated() {
            if i > 0 { ids.append(2) }
            ids += part.utf8.map { 3 + Int($0) % 61 }
        }
        return ids
    }

    static var context: TokenizationContext {
        TokenizationContext(encode: { encode($0, special: $1) }, eosToken: "</s>", bosTokenId: 1)
    }
}

// MARK: - Data

enum TinyData {
    /// A learnable task: the prompt is a few letters from a–h and "="; the chosen answer is one to three
    /// letters from a–d, the rejected one one to three from e–h. Different seeds give different pairs.
    static func letterTask(count: Int, seed: UInt64) -> [(prompt: String, chosen: String, rejected: String)] {
        var rng = Xoshiro256(seed: seed)
        func letters(_ pool: String, _ n: Int) -> String {
            let p = Array(pool)
            return String((0..<n).map { _ in p[Int(rng.next() % UInt64(p.count))] })
        }
        return (0..<count).map { _ in
            let prompt = letters("abcdefgh", 3 + Int(rng.next() % 4)) + "="
            return (prompt, " " + letters("abcd", 1 + Int(rng.next() % 3)), " " + letters("efgh", 1 + Int(rng.next() % 3)))
        }
    }

    /// Writes pairs as JSONL (TRL's standard text format) and returns the path.
    static func write(_ pairs: [(prompt: String, chosen: String, rejected: String)], directory: String, name: String = "train.jsonl")
        throws -> String
    {
        let lines = try pairs.map { p in
            let object = ["prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected]
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        let path = directory + "/" + name
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

// MARK: - Running the trainer

/// A temporary workspace: a tiny model, a data file, an output directory, and a private reference cache.
struct TrainerFixture {
    let directory: String
    let modelPath: String
    let dataPath: String
    let model: LlamaModel

    init(pairs: Int = 6, seed: UInt64 = 1, poisonToken: Int? = nil, data: [(prompt: String, chosen: String, rejected: String)]? = nil) throws {
        Self.isolateCache
        directory = TestPaths.temporaryDirectory("trainer-tests")
        modelPath = try TinyModel.write(directory: directory, seed: seed, poisonToken: poisonToken)
        dataPath = try TinyData.write(data ?? TinyData.letterTask(count: pairs, seed: 11), directory: directory)
        model = try LlamaModel(path: modelPath, threads: 1)
    }

    /// Small, fast, and exercising every moving part: r 4, dropout (seeded per step), grad accumulation,
    /// warmup + linear decay, shuffling across epochs, weight decay and clipping.
    func arguments(output: String = "out", maxSteps: Int = 4) -> TrainArguments {
        var a = TrainArguments(model: modelPath, data: dataPath, output: directory + "/" + output)
        a.lora = LoRAConfig(r: 4, alpha: 8, dropout: 0.1)
        a.batchSize = 2
        a.gradAccum = 2
        a.maxSteps = maxSteps
        a.lr = 5e-3
        a.warmupSteps = 1
        a.weightDecay = 0.01
        a.maxGradNorm = 0.5
        a.loggingSteps = 3
        a.threads = 1
        a.maxLength = 64
        return a
    }

    func trainer(_ a: TrainArguments, resume: TrainingCheckpoint? = nil) throws -> Trainer {
        try Trainer(arguments: a, model: model, context: ByteToy.context, resume: resume)
    }

    /// A trainer over a second model of the same file, built with benchmark `switches`.
    func trainer(_ a: TrainArguments, switches: BenchmarkSwitches) throws -> Trainer {
        try Trainer(arguments: a, model: LlamaModel(path: modelPath, threads: 1, switches: switches), context: ByteToy.context)
    }

    /// Points the reference cache at a private temporary directory (once per process). The demo model found
    /// through the old cache is pinned first (LEANDPO_MODEL), so tests that need it still find it afterwards.
    static let isolateCache: Void = {
        if let model = TestPaths.smolLM2 { setenv("LEANDPO_MODEL", model, 0) }
        setenv("LEANDPO_CACHE", TestPaths.temporaryDirectory("trainer-cache"), 1)
    }()
}

/// Everything a run reported.
struct RunRecord {
    var steps: [StepReport] = []
    var logs: [[String: Double]] = []
    var evaluations: [(step: Int, values: [String: Double])] = []
    var saved: [String] = []
    var finished: Int?
    var warnings: [String] = []
    /// The end-of-run row (train_runtime, train_loss, …).
    var summary: [String: Double] = [:]
    /// Train-set pairs the reference pass scored (or loaded), from its first `.reference` events.
    var referencePairs: Int?

    var losses: [Double] { steps.map(\.loss) }
}

extension Trainer {
    /// Runs until the end, or until `stopAfter` steps have been taken in total (then the caller saves).
    @discardableResult
    func record(stopAfter: Int? = nil) throws -> RunRecord {
        var r = RunRecord()
        try run { event in
            switch event {
            case .step(let s):
                r.steps.append(s)
                if let n = stopAfter, s.step >= n { return .stop }
            case .log(let values): r.logs.append(Dictionary(values.map { ($0.key, $0.value) }) { a, _ in a })
            case .evaluated(let step, let values): r.evaluations.append((step, Dictionary(values.map { ($0.key, $0.value) }) { a, _ in a }))
            case .saved(let path, _, _): r.saved.append((path as NSString).lastPathComponent)
            case .finished(let step): r.finished = step
            case .reference(_, let total, _): if r.referencePairs == nil { r.referencePairs = total }
            case .warning(let text): r.warnings.append(text)
            case .summary(let values): r.summary = Dictionary(values.map { ($0.key, $0.value) }) { a, _ in a }
            case .started: break
            }
            return .more
        }
        return r
    }
}

/// The one-line text of an error thrown by `body`, or nil when nothing was thrown.
func errorText(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}
