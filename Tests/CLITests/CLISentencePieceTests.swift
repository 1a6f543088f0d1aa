// The command line with a SentencePiece-tokenized model: `convert` from an HF directory and from a GGUF whose
// tokenizer.ggml.model is "llama", `inspect` names the tokenizer family, `train` 2 steps and `eval` run on
// plain and conversational records (Tests/ModelFilesTests/Fixtures/tiny_llama_spm*).

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test(arguments: ["tiny_llama_spm", "tiny_llama_spm.gguf"])
    func sentencePieceModelConvertsTrainsAndEvaluates(_ name: String) throws {
        let f = try CLIFixture()
        let source = TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/" + name
        let mtf = f.path("spm.mtf")
        let convert = try CLI.run(["convert", source, "-o", mtf], environment: f.environment, directory: f.directory)
        #expect(convert.status == 0, "\(convert.stderr)")
        let inspect = try CLI.run(["inspect", mtf], environment: f.environment, directory: f.directory)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let tokenizerLine = inspect.stdout.split(separator: "\n").first { $0.hasPrefix("tokenizer") } ?? ""
        #expect(tokenizerLine.contains("SentencePiece BPE") && tokenizerLine.contains("byte fallback"), "\(tokenizerLine)")
        #expect(tokenizerLine.contains(name.hasSuffix(".gguf") ? "merges by score" : "Metaspace always"), "\(tokenizerLine)")

        let lines = [
            #"{"prompt": "What is 2+2?", "chosen": " 4.", "rejected": " Five."}"#,
            #"{"prompt": " Name a color:", "chosen": " blue", "rejected": " 日本語 🙂"}"#,
            #"{"prompt": [{"role": "user", "content": "Hi!"}], "chosen": [{"role": "assistant", "content": "Hello."}], "rejected": [{"role": "assistant", "content": "Go away."}]}"#,
            #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}], "chosen": [{"role": "assistant", "content": "Because."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#,
        ]
        let data = f.path("spm.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: data))
        let train = try CLI.run(
            ["train", "--model", mtf, "--data", data, "--output", f.path("out"), "--threads", "1", "--batch-size", "2", "--max-steps", "2"],
            environment: f.environment, directory: f.directory)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(!train.stderr.contains("two BOS"), "\(train.stderr)")
        let eval = try CLI.run(
            ["eval", "--model", mtf, "--data", data, "--adapter", f.path("out"), "--threads", "1"], environment: f.environment,
            directory: f.directory)
        #expect(eval.status == 0, "\(eval.stderr)")
    }
}
