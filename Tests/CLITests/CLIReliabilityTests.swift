// Issue 13's recipes, run as a user would: each broken input or mistake gives one clear line and exit 1
// (or works, where that is the right answer) and nothing the user had is lost.

import Foundation
import TensorFile
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLITests {
    // MARK: - The output directory's lock

    @Test func aSecondRunOnTheSameOutputIsRefusedNamingTheHolder() throws {
        let f = try CLIFixture()
        // Recipe: two runs started together on one directory used to both exit 0 and mix their files.
        let options = ["--max-steps", "100000", "--logging-steps", "1"]
        let first = try f.start("out", options)
        try Self.waitForMetrics(f, "out", lines: 3, while: first)
        let second = try f.train("out", ["--max-steps", "3", "--lr", "1e-3"])
        #expect(second.status == 1)
        #expect(errorLine(second).contains("in use by another leandpo run (pid \(first.pid))"), "\(second.stderr)")
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.path("out/run.json")))) as? [String: Any]
        #expect(run?["lr"] as? Double == 0.01, "the first run's run.json is untouched")
        // kill -9: the kernel releases the lock, and the run resumes.
        first.signal(SIGKILL)
        _ = first.wait()
        let again = try f.train("out", ["--max-steps", "3", "--overwrite"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    // MARK: - Temporary files and names

    @Test func theLongestLegalOutputNameWorks() throws {
        let f = try CLIFixture()
        // Recipe: a 249-character --output name failed because ".NAME.tmp-PID" exceeded NAME_MAX.
        let name = f.path(String(repeating: "s", count: 243) + ".jsonl")
        let r = try CLI.run(["eval", "--model", f.model, "--data", f.data, "--threads", "1", "--output", name], directory: f.directory)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: name))
    }

    // MARK: - Destructive mistakes

    @Test func evalOutputNeverOverwritesItsInputsOrAFileWithoutForce() throws {
        let f = try CLIFixture()
        let data = try #require(FileManager.default.contents(atPath: f.data))
        let model = try #require(FileManager.default.contents(atPath: f.model))
        func eval(_ extra: [String]) throws -> CLI.Result {
            try CLI.run(["eval", "--model", f.model, "--data", f.data, "--threads", "1"] + extra, directory: f.directory)
        }
        // Recipe: eval --output pointed at its own --data or --model (by path or through a hard link), even with --force.
        for target in [f.data, f.model] {
            let r = try eval(["--output", target, "--force"])
            #expect(r.status == 1)
            #expect(errorLine(r).contains("is the input"), "\(r.stderr)")
        }
        #expect(link(f.data, f.path("alias.jsonl")) == 0)
        let alias = try eval(["--output", f.path("alias.jsonl"), "--force"])
        #expect(alias.status == 1 && errorLine(alias).contains("is the input"))
        #expect(FileManager.default.contents(atPath: f.data) == data && FileManager.default.contents(atPath: f.model) == model)
        // An existing file needs --force.
        try Data("keep".utf8).write(to: URL(fileURLWithPath: f.path("scores.jsonl")))
        let refused = try eval(["--output", f.path("scores.jsonl")])
        #expect(refused.status == 1 && errorLine(refused).contains("--force"))
        #expect(FileManager.default.contents(atPath: f.path("scores.jsonl")) == Data("keep".utf8))
        #expect(try eval(["--output", f.path("scores.jsonl"), "--force"]).status == 0)
    }

    @Test func convertNeverDestroysItsSourceAndNeedsForceToReplace() throws {
        let f = try CLIFixture()
        let gguf = f.path("tiny.gguf")
        let exported = try CLI.run(["export", "--model", f.model, "--to", gguf], directory: f.directory)
        try #require(exported.status == 0, "\(exported.stderr)")
        let source = try #require(FileManager.default.contents(atPath: gguf))
        // Recipe: convert X -o X destroyed X; with --force too.
        for extra in [[], ["--force"]] {
            let r = try CLI.run(["convert", gguf, "-o", gguf] + extra, directory: f.directory)
            #expect(r.status == 1)
            #expect(errorLine(r).contains("the source itself"), "\(r.stderr)")
        }
        #expect(FileManager.default.contents(atPath: gguf) == source)
        // Recipe: convert -o existing replaced it silently.
        try Data("keep".utf8).write(to: URL(fileURLWithPath: f.path("out.mtf")))
        let refused = try CLI.run(["convert", gguf, "-o", f.path("out.mtf")], directory: f.directory)
        #expect(refused.status == 1 && errorLine(refused).contains("--force"), "\(refused.stderr)")
        #expect(FileManager.default.contents(atPath: f.path("out.mtf")) == Data("keep".utf8))
        let forced = try CLI.run(["convert", gguf, "-o", f.path("out.mtf"), "--force"], directory: f.directory)
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test func trainValidatesEveryInputBeforeTouchingTheOutput() throws {
        let f = try CLIFixture()
        let options = ["--max-steps", "2", "--save-steps", "1"]
        #expect(try f.train("out", options).status == 0)
        let before = try #require(FileManager.default.contents(atPath: f.path("out/checkpoint-2")))
        // Recipe: --overwrite with a broken --data (and a missing eval file, and a bad --init-adapter)
        // deleted the old run before reading the inputs.
        try Data("{not json\n".utf8).write(to: URL(fileURLWithPath: f.path("bad.jsonl")))
        for broken in [
            ["--data", f.path("bad.jsonl")], ["--eval-data", f.path("missing.jsonl")], ["--init-adapter", f.path("nowhere")],
        ] {
            let r = try f.train("out", options + ["--beta", "0.3", "--overwrite"] + broken)
            #expect(r.status == 1, "\(broken)")
            _ = errorLine(r)
            #expect(FileManager.default.contents(atPath: f.path("out/checkpoint-2")) == before, "the old run is intact after \(broken)")
        }
        // A bad input never creates the output directory.
        let fresh = try f.train("fresh", options + ["--data", f.path("bad.jsonl")])
        #expect(fresh.status == 1)
        #expect(!FileManager.default.fileExists(atPath: f.path("fresh")))
        // A directory holding other files is not a run: refused without --overwrite.
        try FileManager.default.createDirectory(atPath: f.path("docs"), withIntermediateDirectories: false)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: f.path("docs/notes.txt")))
        let docs = try f.train("docs", options)
        #expect(docs.status == 1)
        #expect(errorLine(docs).contains("not a training run"), "\(docs.stderr)")
        #expect(FileManager.default.contents(atPath: f.path("docs/notes.txt")) == Data("mine".utf8))
    }

    /// The demo GGUF beside the converted test model (tools/fetch-model keeps both).
    static let demoGGUF: String? = TestPaths.smolLM2.map { ($0 as NSString).deletingLastPathComponent + "/SmolLM2-135M-Instruct.Q4_1.gguf" }
        .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }

    @Test(.enabled(if: demoGGUF != nil, "needs the demo GGUF (tools/fetch-model)"))
    func aSignalDuringConvertLeavesNoTemporaryFile() throws {
        let f = try CLIFixture()
        let gguf = try #require(Self.demoGGUF)
        // Recipe: SIGTERM a few hundred milliseconds into a 4-second conversion left a 300 MB hidden file.
        let run = try CLI.Running(["convert", gguf, "-o", f.path("smol.mtf")], environment: [:], directory: f.directory)
        let deadline = Date().addingTimeInterval(30)
        while !((try? FileManager.default.contentsOfDirectory(atPath: f.directory)) ?? []).contains(where: { $0.hasPrefix(".smol.mtf.tmp-") }) {
            try #require(run.process.isRunning && Date() < deadline, "the conversion never started writing")
            usleep(5_000)
        }
        run.signal(SIGTERM)
        let r = run.wait()
        #expect(r.status == 128 + SIGTERM, "\(r.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: f.directory)
        #expect(!names.contains { $0.contains("smol.mtf") }, "\(names)")
    }

    // MARK: - Traps become errors

    @Test func modelConfigsThatTrappedAreRefusedInOneLine() throws {
        let f = try CLIFixture()
        // Recipes: max_position_embeddings 0 or negative (RoPE precondition), an eos id outside Int32.
        let recipes: [(String, (inout ModelConfig, inout TokenizerData) -> Void, String)] = [
            ("zero-positions", { c, _ in c.maxPositionEmbeddings = 0 }, "max_position_embeddings"),
            ("negative-positions", { c, _ in c.maxPositionEmbeddings = -4 }, "max_position_embeddings"),
            ("eos-beyond-int32", { c, _ in c.eosTokenIds = [Int(Int32.max) + 7] }, "eos_token_id"),
        ]
        for (name, edit, expected) in recipes {
            let path = f.path(name + ".mtf")
            try CLIFixture.writeModel(path, seed: 1, edit: edit)
            for command in [["generate", "--model", path, "--prompt", "a=", "--max-tokens", "2"], ["inspect", path]] {
                let r = try CLI.run(command, directory: f.directory)
                #expect(r.status == 1, "\(name) \(command[0])")
                #expect(errorLine(r).contains(expected), "\(r.stderr)")
            }
        }
    }

    @Test func threadCountsAndTokenLimitsAreCheckedNotTrapped() throws {
        let f = try CLIFixture()
        // Recipe: --threads 0 (all cores, as train) and negative in eval/generate; --max-tokens near Int.max.
        let zero = try CLI.run(["eval", "--model", f.model, "--data", f.data, "--threads", "0"], directory: f.directory)
        #expect(zero.status == 0, "\(zero.stderr)")
        let gen0 = try CLI.run(["generate", "--model", f.model, "--prompt", "a=", "--max-tokens", "2", "--threads", "0"], directory: f.directory)
        #expect(gen0.status == 0, "\(gen0.stderr)")
        // Refused with one line and exit 1, never a trap (a signal, status ≥ 128).
        for (arguments, option) in [(["--threads=-2"], "--threads"), (["--max-tokens", "\(Int.max - 1)"], "--max-tokens")] {
            let r = try CLI.run(["generate", "--model", f.model, "--prompt", "a="] + arguments, directory: f.directory)
            #expect(r.status == 1, "\(r.stderr)")
            #expect(errorLine(r).contains(option), "\(r.stderr)")
        }
    }

    // MARK: - Inputs that are not what they seem

    @Test func unusualInputFilesGetWordsNotDumps() throws {
        let f = try CLIFixture()
        try FileManager.default.createDirectory(atPath: f.path("dir"), withIntermediateDirectories: false)
        #expect(mkfifo(f.path("fifo"), 0o600) == 0)
        // Recipes: --data a directory, a FIFO, /dev/null; a FIFO as the model (open() blocked forever).
        for (data, expected) in [(f.path("dir"), "is a directory"), (f.path("fifo"), "FIFO"), ("/dev/null", "character device")] {
            let r = try CLI.run(["eval", "--model", f.model, "--data", data, "--threads", "1"], directory: f.directory)
            #expect(r.status == 1)
            #expect(errorLine(r).contains(expected), "\(r.stderr)")
        }
        // KTO's unpaired data and generate's --messages go through the same file read.
        let kto = try CLI.run(
            [
                "train", "--model", f.model, "--data", f.path("fifo"), "--loss", "kto", "--no-shuffle", "--output", f.path("kto"),
                "--threads", "1",
            ],
            directory: f.directory)
        #expect(kto.status == 1 && errorLine(kto).contains("FIFO"), "\(kto.stderr)")
        let messages = try CLI.run(["generate", "--model", f.model, "--messages", f.path("fifo")], directory: f.directory)
        #expect(messages.status == 1 && errorLine(messages).contains("FIFO"), "\(messages.stderr)")
        let model = try CLI.run(["inspect", f.path("fifo")], directory: f.directory)
        #expect(model.status == 1 && errorLine(model).contains("FIFO"), "\(model.stderr)")
        // An output directory that cannot be created (inside a file here, so the recipe holds for root too;
        // a read-only parent gives "Permission denied" the same way).
        let r = try f.train("train.jsonl/out", ["--max-steps", "1"])
        #expect(r.status == 1)
        #expect(errorLine(r).contains("is a regular file, not a directory") || errorLine(r).contains("Not a directory"), "\(r.stderr)")
        #expect(!r.stderr.contains("Domain"), "\(r.stderr)")
    }

    @Test func brokenMessagesFilesAreNamedWithTheirPlace() throws {
        let f = try CLIFixture()
        let model = f.path("chat.mtf")
        let chatML =
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        try CLIFixture.writeModel(model, seed: 1, chatTemplate: chatML)
        let good = f.path("good.json")
        try #"[{"role": "user", "content": "a="}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c="}]"#
            .write(toFile: good, atomically: true, encoding: .utf8)
        let ok = try CLI.run(["generate", "--model", model, "--messages", good, "--max-tokens", "2", "--threads", "1"], directory: f.directory)
        #expect(ok.status == 0, "\(ok.stderr)")
        // Recipes: each broken file gives exit 1 and one line naming the file and the place.
        let cases: [(String, [String])] = [
            ("[{\"role\": \"user\",\n \"content\": }]", ["line 2", "not valid JSON"]),
            ("{\"role\": \"user\", \"content\": \"a\"}", ["non-empty JSON list"]),
            ("[]", ["non-empty JSON list"]),
            ("[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\"}]", ["message 1", "\"content\""]),
            ("[{\"role\": \"tool\", \"content\": \"a\"}]", ["message 0", "'tool'"]),
            ("[{\"role\": \"user\", \"content\": 7}]", ["message 0", "string \"content\""]),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let path = f.path("broken-\(i).json")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try CLI.run(["generate", "--model", model, "--messages", path, "--threads", "1"], directory: f.directory)
            #expect(r.status == 1, "\(r.stderr)")
            let line = errorLine(r)
            #expect(line.contains(path) && expected.allSatisfy { line.contains($0) }, "\(r.stderr)")
        }
        let missing = try CLI.run(["generate", "--model", model, "--messages", f.path("nope.json")], directory: f.directory)
        #expect(missing.status == 1 && errorLine(missing).contains("nope.json"), "\(missing.stderr)")
    }

    @Test func inspectEscapesControlCharactersAndVerifyChecksTheTokenizerAndLayers() throws {
        let f = try CLIFixture()
        // Recipe: a tensor name holding an escape sequence that clears the terminal.
        let evil = f.path("evil.mtf")
        try CLIFixture.writeModel(evil, seed: 1, extraTensors: ["x\u{1B}[2J\u{7}"])
        let r = try CLI.run(["inspect", evil], directory: f.directory)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("\u{1B}") && r.stdout.contains("x\\u{1b}[2J\\u{7}"), "\(r.stdout)")
        // Recipe: a weight of a layer the config does not count, and a merge whose result is not in the vocab.
        let extraLayer = f.path("extra-layer.mtf")
        try CLIFixture.writeModel(extraLayer, seed: 1, extraTensors: ["model.layers.2.mlp.up_proj.weight"])
        let layer = try CLI.run(["inspect", "--verify", extraLayer], directory: f.directory)
        #expect(layer.status == 1 && errorLine(layer).contains("model.layers.2.mlp.up_proj.weight"), "\(layer.stderr)")
        let badMerge = f.path("bad-merge.mtf")
        try CLIFixture.writeModel(badMerge, seed: 1) { _, t in t.merges = ["a b"] }
        let verify = try CLI.run(["inspect", "--verify", badMerge], directory: f.directory)
        #expect(verify.status == 1 && errorLine(verify).contains("merges[0]"), "\(verify.stderr)")
        // Tokenizer errors name the model file.
        let gen = try CLI.run(["generate", "--model", badMerge, "--prompt", "a"], directory: f.directory)
        #expect(gen.status == 1 && errorLine(gen).contains(badMerge) && errorLine(gen).contains("merges[0]"), "\(gen.stderr)")
        // convert refuses the same files before writing anything (through a GGUF export of each).
        for (model, expected) in [(badMerge, "merges[0]")] {
            let gguf = f.path("conv.gguf")
            let e = try CLI.run(["export", "--model", model, "--to", gguf, "--force"], directory: f.directory)
            try #require(e.status == 0, "\(e.stderr)")
            let c = try CLI.run(["convert", gguf, "-o", f.path("conv.mtf")], directory: f.directory)
            #expect(c.status == 1 && errorLine(c).contains(expected), "\(c.stderr)")
            #expect(!FileManager.default.fileExists(atPath: f.path("conv.mtf")))
        }
    }

    // MARK: - Reference cache and --init-adapter

    @Test func cacheCommandListsAndClears() throws {
        let f = try CLIFixture()
        #expect(try f.train("out", ["--max-steps", "1"]).status == 0)
        let list = try CLI.run(["cache"], environment: f.environment, directory: f.directory)
        #expect(list.status == 0 && list.stdout.contains(f.path("cache/reference")) && list.stdout.contains("1 verified base"), "\(list.stdout)")
        #expect(!list.stdout.contains(": 0 entries"), "\(list.stdout)")
        let cleared = try CLI.run(["cache", "--clear"], environment: f.environment, directory: f.directory)
        #expect(cleared.status == 0 && cleared.stdout.contains("cleared"), "\(cleared.stdout)")
        let empty = try CLI.run(["cache"], environment: f.environment, directory: f.directory)
        #expect(empty.stdout.contains(": 0 entries"), "\(empty.stdout)")
    }

    @Test func initAdapterShapeWinsOverLoRAOptionsAndIsRecorded() throws {
        let f = try CLIFixture()
        #expect(try f.train("first", ["--max-steps", "1", "--lora-r", "4", "--lora-targets", "q,v"]).status == 0)
        // Recipe: --init-adapter (r 4 on q,v) with --lora-r 8 --lora-targets all: the ignored values were recorded.
        let r = try f.train("second", ["--max-steps", "1", "--init-adapter", f.path("first/adapter"), "--lora-r", "8"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("--lora-r 4"), "a note says which shape is trained: \(r.stderr)")
        let run = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.path("second/run.json")))) as? [String: Any])
        #expect(run["lora_r"] as? Int == 4, "\(run)")
        let targets = "\(run["lora_targets"] ?? "")"
        #expect(targets.contains("q") && targets.contains("v") && !targets.contains("gate"), "\(targets)")
        #expect(run["reference"] as? String == "initial", "\(run)")
    }

    /// `eval --reference-adapter A`: the reference is base + A. An adapter scored against itself has every reward
    /// 0 and loss ln 2; against the adapter its run started from, other margins than against the base.
    @Test func evalScoresAgainstAReferenceAdapter() throws {
        let f = try CLIFixture()
        #expect(try f.train("first", ["--max-steps", "2", "--lr", "1e-2"]).status == 0)
        #expect(try f.train("second", ["--max-steps", "2", "--lr", "1e-2", "--init-adapter", f.path("first/adapter")]).status == 0)
        func eval(_ extra: [String]) throws -> [String: Double] {
            let r = try CLI.run(
                ["eval", "--model", f.model, "--data", f.data, "--threads", "1"] + extra, environment: f.environment, directory: f.directory)
            #expect(r.status == 0, "\(r.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
            return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
        let itself = try eval(["--adapter", f.path("second/adapter"), "--reference-adapter", f.path("second/adapter")])
        #expect(itself["rewards/chosen"] == 0 && itself["rewards/margins"] == 0, "\(itself)")
        #expect(abs((itself["loss"] ?? 0) - log(2.0)) < 1e-9, "\(itself)")
        let fromStart = try eval(["--adapter", f.path("second/adapter"), "--reference-adapter", f.path("first/adapter")])
        let fromBase = try eval(["--adapter", f.path("second/adapter")])
        #expect(fromStart["rewards/margins"] != fromBase["rewards/margins"], "\(fromStart) vs \(fromBase)")
        let refused = try CLI.run(
            ["eval", "--model", f.model, "--data", f.data, "--reference-adapter", f.path("nowhere")], environment: f.environment,
            directory: f.directory)
        #expect(refused.status != 0 && refused.stderr.contains("nowhere"), "\(refused.stderr)")
    }
}
