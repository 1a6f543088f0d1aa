// Test helpers for the Training target: fixture loading, a toy tokenizer + chat template that copies
// tools/reference/gen_loss_fixtures.py's ToyTokenizer exactly, temporary data files and tolerance checks.

import Foundation
import Testing
import TestSupport
import Training

// MARK: - Fixtures

enum Fixture {
    static func url(_ name: String) throws -> URL {
        let dir = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return dir.appendingPathComponent(name)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(contentsOf: url(name)))
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
    }
}

// MARK: - TRL runs

/// A TRL trainer run a generator recorded (gen_kto_fixtures.py, gen_gemma_dpo_fixtures.py): its `config`, its
/// `records` (written here as JSONL, the trainer's input) and the values it logged per step (`steps`).
struct TRLRun {
    let fixture: [String: Any]
    let config: [String: Any]
    let steps: [[String: Double]]
    let dataPath: String

    init(_ name: String, directory: String) throws {
        fixture = try #require(Fixture.json(name) as? [String: Any])
        config = try #require(fixture["config"] as? [String: Any])
        steps = try #require(fixture["steps"] as? [[String: Double]])
        let records = try #require(fixture["records"] as? [[String: Any]])
        let lines = try records.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
        dataPath = directory + "/records.jsonl"
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dataPath))
    }

    func number(_ key: String) throws -> Double { try #require(config[key] as? Double, "config \(key)") }

    /// The run's beta, batch size, steps, learning rate, clipping and max length from the shared PEFT init (the
    /// reference the base, as in the generators' TRL runs), the file in order (TRL's sampler order is asserted
    /// sequential by the generators), a log every step.
    func arguments(model: String, output: String, initAdapter: String) throws -> TrainArguments {
        var a = TrainArguments(model: model, data: dataPath, output: output)
        a.initAdapter = try Fixture.url(initAdapter).path
        a.reference = .base  // the generators hand TRL the adapter as a new one, so its reference is the base
        a.beta = try number("beta")
        a.batchSize = try #require(config["batch_size"] as? Int)
        a.maxSteps = try #require(config["max_steps"] as? Int)
        a.lr = try number("lr")
        a.maxGradNorm = try number("max_grad_norm")
        a.maxLength = try #require(config["max_length"] as? Int)
        a.shuffle = false
        a.loggingSteps = 1
        a.threads = 2
        return a
    }

    /// Every key of `tolerance` logged by both or neither, and |ours − TRL| within it at every step; prints the
    /// largest difference per key under `label`.
    func expectLogsMatch(
        _ logs: [[String: Double]], tolerance: [String: Double], label: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(logs.count == steps.count, "\(label): \(logs.count) logged steps, TRL \(steps.count)", sourceLocation: sourceLocation)
        var worst: [String: Double] = [:]
        for (k, (got, want)) in zip(logs, steps).enumerated() {
            for (key, tol) in tolerance {
                #expect(
                    (got[key] == nil) == (want[key] == nil), "step \(k + 1) \(key): logged here \(got[key] != nil), by TRL \(want[key] != nil)",
                    sourceLocation: sourceLocation)
                guard let g = got[key], let w = want[key] else { continue }
                worst[key] = max(worst[key] ?? 0, abs(g - w))
                #expect(abs(g - w) <= tol, "step \(k + 1) \(key): \(g) vs TRL \(w)", sourceLocation: sourceLocation)
            }
        }
        print(
            "\(label), max |ours − TRL| over \(steps.count) steps: "
                + worst.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}

/// Tokenized pairs equal TRL's dataset rows (prompt_ids, chosen_ids, rejected_ids, or the keys given).
/// What LeanDPO makes of a TRL tokenization fixture row's `record` alone (one JSONL line of a file named `file`).
func datasetOfRecord(_ row: [String: Any], context: TokenizationContext, file: String) throws -> PreferenceDataset {
    let record = try #require(row["record"])
    let line = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
    return try PreferenceDataset.make(PreferenceData.parse(Array(line.utf8), file: file), context: context, options: DataOptions())
}

func expectPairsMatch(
    _ pairs: [TokenizedPair], _ rows: [[String: Any]], keys: (String, String, String) = ("prompt_ids", "chosen_ids", "rejected_ids"),
    label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(pairs.count == rows.count, "\(label): \(pairs.count) pairs, TRL \(rows.count)", sourceLocation: sourceLocation)
    for (i, (p, e)) in zip(pairs, rows).enumerated() {
        #expect(p.promptIds == e[keys.0] as? [Int], "\(label) \(i) \(keys.0)", sourceLocation: sourceLocation)
        #expect(p.chosenIds == e[keys.1] as? [Int], "\(label) \(i) \(keys.1)", sourceLocation: sourceLocation)
        #expect(p.rejectedIds == e[keys.2] as? [Int], "\(label) \(i) \(keys.2)", sourceLocation: sourceLocation)
    }
}

// MARK: - Toy tokenizer (copy of gen_loss_fixtures.py ToyTokenizer)

/// Special tokens "<s>" = 1 and "</s>" = 2 are matched in the text; the rest is split by greedy longest match
/// over `vocab`, else single bytes (id 3 + byte). `addSpecialTokens` prepends BOS (1).
enum Toy {
    static let special: [(text: [UInt8], id: Int)] = [(Array("<s>".utf8), 1), (Array("</s>".utf8), 2)]
    static let vocab: [[UInt8]: Int] = Dictionary(
        uniqueKeysWithValues: [
            ("The", 300), ("Then", 301), (" I", 302), ("Human", 303), ("Assistant", 304), ("\n\n", 305), (": ", 306),
            ("<|user|>", 307), ("<|assistant|>", 308), ("<|system|>", 309),
        ].map { (Array($0.0.utf8), $0.1) })
    static let longest = vocab.keys.map(\.count).max()!

    static func encodePlain(_ bytes: ArraySlice<UInt8>) -> [Int] {
        var ids: [Int] = []
        var i = bytes.startIndex
        outer: while i < bytes.endIndex {
            for n in stride(from: min(longest, bytes.endIndex - i), through: 1, by: -1) {
                if let id = vocab[Array(bytes[i..<(i + n)])] {
                    ids.append(id)
                    i += n
                    continue outer
                }
            }
            ids.append(3 + Int(bytes[i]))
            i += 1
        }
        return ids
    }

    static func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var ids = addSpecialTokens ? [1] : []
        var i = 0
        while i < bytes.count {
            var next: (pos: Int, len: Int, id: Int)?
            for s in special {
                if let pos = find(s.text, in: bytes, from: i), next == nil || pos < next!.pos {
                    next = (pos, s.text.count, s.id)
                }
            }
            guard let hit = next else {
                ids += encodePlain(bytes[i...])
                break
            }
            ids += encodePlain(bytes[i..<hit.pos]) + [hit.id]
            i = hit.pos + hit.len
        }
        return ids
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var p = start
        while p + needle.count <= hay.count {
            if hay[p..<(p + needle.count)].elementsEqual(needle) { return p }
            p += 1
        }
        return nil
    }

    /// "<s>" + "<|role|>\n" + content + "</s>\n" per message, + "<|assistant|>\n" as the generation prompt.
    static func render(_ messages: [ChatMessage], _ addGenerationPrompt: Bool) -> String {
        "<s>" + messages.map { "<|\($0.role)|>\n\($0.content)</s>\n" }.joined()
            + (addGenerationPrompt ? "<|assistant|>\n" : "")
    }

    static var context: TokenizationContext {
        TokenizationContext(
            encode: { text, special in encode(text, addSpecialTokens: special) }, eosToken: "</s>",
            renderChat: { messages, gen in render(messages, gen) }, bosTokenId: 1)
    }
}

// MARK: - Temporary files

/// Writes `contents` to a fresh temporary file and returns its path.
func temporaryFile(_ contents: [UInt8], name: String = "data.jsonl") throws -> String {
    let dir = TestPaths.temporaryDirectory("training-tests")
    let path = dir + "/" + name
    try Data(contents).write(to: URL(fileURLWithPath: path))
    return path
}

func temporaryFile(_ text: String, name: String = "data.jsonl") throws -> String {
    try temporaryFile(Array(text.utf8), name: name)
}

// MARK: - Tolerances

/// |a − b| ≤ atol + rtol·|b|.
func close(_ a: Double, _ b: Double, rtol: Double = 1e-5, atol: Double = 1e-12) -> Bool {
    abs(a - b) <= atol + rtol * abs(b)
}
