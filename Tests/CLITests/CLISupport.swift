// Helpers of the CLI tests, which run the built `leandpo` binary as a subprocess: finding it, running
// it (or starting it to signal later), and a tiny MTF model with a real byte-level tokenizer plus a tiny
// preference file, both written by the test.

import Foundation
import TensorFile
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// CLI tests start processes that each use a core: run them one at a time.
@Suite(.serialized) struct CLITests {}

// MARK: - The binary

enum CLI {
    /// `$LEANDPO_BIN`, else `leandpo` beside the test executable (the same build), else
    /// `<repo>/.build/release/leandpo` (tools/test builds it first).
    static let binary: String? = {
        let fm = FileManager.default
        var candidates: [String] = []
        if let b = ProcessInfo.processInfo.environment["LEANDPO_BIN"], !b.isEmpty { candidates.append(b) }
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            // .../release/LeanDPOPackageTests.xctest (a file on Linux)
            candidates.append(((exe as NSString).deletingLastPathComponent as NSString).appendingPathComponent("leandpo"))
        }
        candidates.append(TestPaths.repositoryRoot + "/.build/release/leandpo")
        return candidates.first { fm.isExecutableFile(atPath: $0) }
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// A started process whose output goes to files in `directory`.
    final class Running {
        let process = Process()
        let stdoutPath: String
        let stderrPath: String

        init(_ arguments: [String], environment: [String: String], directory: String) throws {
            let binary = try #require(CLI.binary, "no leandpo binary: build it (swift build -c release --product leandpo) or set LEANDPO_BIN")
            let id = UUID().uuidString.prefix(8)
            stdoutPath = directory + "/stdout-\(id).txt"
            stderrPath = directory + "/stderr-\(id).txt"
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        var pid: Int32 { process.processIdentifier }

        func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

        func wait() -> Result {
            process.waitUntilExit()
            func read(_ p: String) -> String { (try? String(contentsOfFile: p, encoding: .utf8)) ?? "" }
            return Result(status: process.terminationStatus, stdout: read(stdoutPath), stderr: read(stderrPath))
        }
    }

    /// Runs `leandpo arguments…` to the end.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String) throws -> Result {
        try Running(arguments, environment: environment, directory: directory).wait()
    }
}

// MARK: - A tiny model and data

/// A workspace with a tiny MTF (D 16, L 2, V 257: the 256 byte tokens and <|im_end|>) and a data file.
struct CLIFixture {
    let directory: String
    let model: String
    let data: String
    /// Every subprocess gets a private reference cache.
    let environment: [String: String]

    init(pairs: Int = 8, seed: UInt64 = 1) throws {
        directory = TestPaths.temporaryDirectory("cli-tests")
        model = directory + "/tiny.mtf"
        data = directory + "/train.jsonl"
        environment = ["LEANDPO_CACHE": directory + "/cache"]
        try Self.writeModel(model, seed: seed)
        try Self.writeData(data, count: pairs, seed: seed)
    }

    /// GPT-2's printable stand-in for every byte, in byte order.
    static let byteTokens: [String] = {
        var shifted: UInt32 = 0
        return (0..<256).map { b -> String in
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            let scalar: UInt32 = printable ? UInt32(b) : 256 + shifted
            if !printable { shifted += 1 }
            return String(Character(Unicode.Scalar(scalar)!))
        }
    }()

    /// `edit` may change the config and tokenizer (a broken file's recipe); `extraTensors` are added as 1-D f32.
    static func writeModel(
        _ path: String, seed: UInt64, extraTensors: [String] = [], chatTemplate: String? = nil,
        edit: (inout ModelConfig, inout TokenizerData) -> Void = { _, _ in }
    ) throws {
        var config = ModelConfig(
            architecture: .llama, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
            numKeyValueHeads: 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10_000, ropeScaling: nil,
            maxPositionEmbeddings: 128, vocabSize: 257, tieWordEmbeddings: true, attentionBias: false, qkNorm: false,
            bosTokenId: nil, eosTokenIds: [256])
        var tokenizer = TokenizerData(
            preTokenizer: "gpt2", vocab: byteTokens + ["<|im_end|>"], merges: [],
            addedTokens: [AddedToken(id: 256, content: "<|im_end|>")], eosToken: "<|im_end|>")
        edit(&config, &tokenizer)
        let metadata = MTFMetadata(
            config: config, tokenizer: tokenizer, chatTemplate: chatTemplate,
            provenance: Provenance(
                sourceFormat: "test", sourceName: "tiny", sourceXxh64: "0000000000000000", converter: "CLITests", converterVersion: "1"))
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func uniform() -> Float {  // xorshift64*, in [-1, 1)
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return Float((state &* 0x2545_F491_4F6C_DD1D) >> 40) / Float(1 << 23) - 1
        }
        let writer = try MTFWriter(
            path: path, metadata: metadata,
            tensors: config.requiredTensors.map { TensorSpec(name: $0.name, dtype: .f32, shape: $0.shape) }
                + extraTensors.map { TensorSpec(name: $0, dtype: .f32, shape: [2]) })
        for t in config.requiredTensors {
            let n = t.shape.reduce(1, *)
            let values: [Float] =
                t.name.hasSuffix("norm.weight")
                ? (0..<n).map { _ in 1 + 0.2 * uniform() }
                : t.name.contains("embed_tokens")
                    ? (0..<n).map { _ in uniform() }
                    : (0..<n).map { _ in uniform() * Float(1.7 / Double(t.shape[1]).squareRoot()) }
            try writer.write(name: t.name, floats: values)
        }
        for name in extraTensors { try writer.write(name: name, floats: [1, 2]) }
        try writer.finish()
    }

    /// Letters and "=" as the prompt; chosen from a–d, rejected from e–h.
    static func writeData(_ path: String, count: Int, seed: UInt64) throws {
        var state = seed &+ 77
        func pick(_ pool: String, _ n: Int) -> String {
            let p = Array(pool)
            return String(
                (0..<n).map { _ in
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return p[Int((state >> 33) % UInt64(p.count))]
                })
        }
        let lines = (0..<count).map { i in
            #"{"prompt": "\#(pick("abcdefgh", 3 + i % 3))=", "chosen": " \#(pick("abcd", 2))", "rejected": " \#(pick("efgh", 1 + i % 2))"}"#
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    /// `train` with the fixture's model and data, one thread, into `output` (relative to the workspace).
    func trainArguments(_ output: String, _ extra: [String]) -> [String] {
        ["train", "--model", model, "--data", data, "--output", directory + "/" + output, "--threads", "1", "--batch-size", "2", "--lr", "1e-2"]
            + extra
    }

    func train(_ output: String, _ extra: [String] = [], environment extraEnvironment: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(trainArguments(output, extra), environment: environment.merging(extraEnvironment) { _, b in b }, directory: directory)
    }

    func start(_ output: String, _ extra: [String] = []) throws -> CLI.Running {
        try CLI.Running(trainArguments(output, extra), environment: environment, directory: directory)
    }

    func path(_ relative: String) -> String { directory + "/" + relative }

    // MARK: Family round trips

    /// `convert SOURCE -o NAME` and `inspect` of the result, both expected to succeed: the MTF path and
    /// inspect's output.
    func convertAndInspect(_ source: String, to name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (
        mtf: String, inspect: String
    ) {
        let mtf = path(name)
        let convert = try CLI.run(["convert", source, "-o", mtf], environment: environment, directory: directory)
        #expect(convert.status == 0, "\(convert.stderr)", sourceLocation: sourceLocation)
        let inspect = try CLI.run(["inspect", mtf], environment: environment, directory: directory)
        #expect(inspect.status == 0, "\(inspect.stderr)", sourceLocation: sourceLocation)
        return (mtf, inspect.stdout)
    }

    /// The records every family's round trip trains on: two plain, then `conversations` (JSONL lines) shaped
    /// for the family's template.
    static func familyRecords(_ conversations: [String]) -> [String] {
        [
            #"{"prompt": "What is 2+2?", "chosen": " 4.", "rejected": " Five."}"#,
            #"{"prompt": " Name a color:", "chosen": " blue", "rejected": " 日本語 🙂"}"#,
            #"{"prompt": [{"role": "user", "content": "Hi!"}], "chosen": [{"role": "assistant", "content": "Hello."}], "rejected": [{"role": "assistant", "content": "Go away."}]}"#,
        ] + conversations
    }

    /// JSONL `records` written to `name` in the workspace; its path.
    @discardableResult
    func write(_ records: [String], to name: String) throws -> String {
        let data = path(name)
        try Data((records.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: data))
        return data
    }

    /// `records` written to NAME.jsonl, `train` 2 steps of 2 pairs into `out` (no double-BOS warning), then
    /// `eval` of that adapter on the same records.
    func trainTwoStepsAndEvaluate(model: String, records: [String], name: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let data = try write(records, to: name + ".jsonl")
        let train = try CLI.run(
            ["train", "--model", model, "--data", data, "--output", path("out"), "--threads", "1", "--batch-size", "2", "--max-steps", "2"],
            environment: environment, directory: directory)
        #expect(train.status == 0, "\(train.stderr)", sourceLocation: sourceLocation)
        #expect(!train.stderr.contains("two BOS"), "\(train.stderr)", sourceLocation: sourceLocation)
        let eval = try CLI.run(
            ["eval", "--model", model, "--data", data, "--adapter", path("out"), "--threads", "1"], environment: environment,
            directory: directory)
        #expect(eval.status == 0, "\(eval.stderr)", sourceLocation: sourceLocation)
    }

    /// A family's round trip: `convert` and `inspect` Tests/`fixture` (inspect's output holds every `expected` line), then
    /// `trainTwoStepsAndEvaluate` on familyRecords(`conversations`) as NAME.jsonl. The MTF path and inspect's output.
    @discardableResult
    func roundTrip(
        _ fixture: String, name: String, expecting expected: [String], conversations: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (mtf: String, inspect: String) {
        let (mtf, inspected) = try convertAndInspect(
            TestPaths.repositoryRoot + "/Tests/" + fixture, to: name + ".mtf", sourceLocation: sourceLocation)
        for line in expected { #expect(inspected.contains(line), "\(fixture): \(line) in \(inspected)", sourceLocation: sourceLocation) }
        try trainTwoStepsAndEvaluate(model: mtf, records: Self.familyRecords(conversations), name: name, sourceLocation: sourceLocation)
        return (mtf, inspected)
    }

    /// `export` of the adapter in `out` on `model` to hf (`hf/`), gguf (`m.gguf`) and peft (`peft/`), each expected to
    /// succeed; the hf and gguf exports convert back to models whose `inspect` holds every `expected` line.
    func exportAndConvertBack(model: String, expecting expected: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (format, to) in [("hf", "hf"), ("gguf", "m.gguf"), ("peft", "peft")] {
            let e = try CLI.run(
                ["export", "--model", model, "--adapter", path("out"), "--to", path(to), "--format", format], environment: environment,
                directory: directory)
            #expect(e.status == 0, "\(format): \(e.stderr)", sourceLocation: sourceLocation)
            guard format != "peft" else { continue }
            let (_, again) = try convertAndInspect(path(to), to: "back-\(format).mtf", sourceLocation: sourceLocation)
            for line in expected { #expect(again.contains(line), "\(format): \(line) in \(again)", sourceLocation: sourceLocation) }
        }
    }

    /// Two DPO steps on `FAMILY.mtf` (converted from `source`) from Tests/TrainingTests/Fixtures/FAMILY_adapter_r2 on
    /// `targets` against TRL 1.16's logged steps (gen_mistral_fixtures.py, gen_phi3_fixtures.py: the same options,
    /// one batch of all 4 conversational pairs, so shuffling cannot differ). `reference` "base": `--reference base`
    /// against FAMILY_dpo_2steps.json (TRL given the adapter as a new one); "initial": the default against
    /// FAMILY_dpo_2steps_initial_reference.json (TRL given it as a loaded PeftModel, which it copies into a frozen
    /// reference). Loss, rewards and grad_norm within 1e-5 abs; summed log-probabilities (f32 sums) within 1e-6
    /// relative.
    func twoDPOStepsMatchTRL(
        family: String, source: String, targets: String, reference: String = "base", sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let fixtures = TestPaths.repositoryRoot + "/Tests/TrainingTests/Fixtures/"
        let name = family + (reference == "base" ? "_dpo_2steps.json" : "_dpo_2steps_initial_reference.json")
        let fixture = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures + name))) as? [String: Any],
            sourceLocation: sourceLocation)
        let records = try #require(fixture["records"] as? [Any], sourceLocation: sourceLocation)
        let data = try write(
            try records.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }, to: "pairs.jsonl")
        let mtf = path(family + ".mtf")
        let convert = try CLI.run(["convert", source, "-o", mtf], environment: environment, directory: directory)
        #expect(convert.status == 0, "\(convert.stderr)", sourceLocation: sourceLocation)
        let train = try CLI.run(
            [
                "train", "--model", mtf, "--data", data, "--output", path("out"), "--threads", "1",
                "--init-adapter", fixtures + family + "_adapter_r2", "--lora-r", "2", "--lora-alpha", "4",
                "--lora-targets", targets, "--lr", "5e-3", "--lr-scheduler-type", "constant", "--warmup-steps", "0",
                "--weight-decay", "0", "--max-grad-norm", "1", "--batch-size", "4", "--max-steps", "2", "--logging-steps", "1",
                "--beta", "0.1",
            ] + (reference == "base" ? ["--reference", "base"] : []), environment: environment, directory: directory)
        #expect(train.status == 0, "\(train.stderr)", sourceLocation: sourceLocation)
        let ours = metrics("out")
        let theirs = try #require(fixture["steps"] as? [[String: Any]], sourceLocation: sourceLocation)
        #expect(ours.count == 2 && theirs.count == 2, sourceLocation: sourceLocation)
        var worst: [String: Double] = [:]
        for (o, t) in zip(ours, theirs) {
            for (key, value) in t where key != "step" {
                let want = try #require(value as? Double, sourceLocation: sourceLocation)
                let got = try #require(o[key] as? Double, "\(key) missing", sourceLocation: sourceLocation)
                let tolerance = key.hasPrefix("logps/") ? 1e-6 * abs(want) : 1e-5
                #expect(abs(got - want) <= tolerance, "step \(t["step"]!): \(key) \(got) vs TRL \(want)", sourceLocation: sourceLocation)
                worst[key] = max(worst[key] ?? 0, abs(got - want))
            }
        }
        print("\(family) DPO vs TRL, max |Δ| per metric: \(worst.sorted { $0.key < $1.key })")
    }

    /// `leandpo inspect` of a checkpoint: its "  lora [N]  xxh64 H" line's hash.
    func loraChecksum(_ checkpoint: String) throws -> String? {
        let r = try CLI.run(["inspect", checkpoint], directory: directory)
        guard r.status == 0 else { return nil }
        let line = r.stdout.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("lora ") }
        return line?.split(separator: " ").last.map(String.init)
    }

    /// Checkpoint steps in an output directory.
    func checkpoints(_ output: String) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(output))) ?? []).compactMap {
            $0.hasPrefix("checkpoint-") ? Int($0.dropFirst("checkpoint-".count)) : nil
        }.sorted()
    }

    /// metrics.jsonl as one dictionary per line.
    /// The logged rows of metrics.jsonl (the end-of-run `train_runtime` row is `summary`).
    func metrics(_ output: String) -> [[String: Any]] {
        rows(output).filter { $0["train_runtime"] == nil }
    }

    /// The end-of-run row (train_runtime, train_loss, …), if the run finished.
    func summary(_ output: String) -> [String: Any]? {
        rows(output).last { $0["train_runtime"] != nil }
    }

    func rows(_ output: String) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path(output + "/metrics.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

/// The one line of an error message (stderr without progress lines), checking it is one line.
func errorLine(_ r: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }
    #expect(lines.count == 1, "one error line, got: \(r.stderr)", sourceLocation: sourceLocation)
    return lines.first.map(String.init) ?? ""
}
