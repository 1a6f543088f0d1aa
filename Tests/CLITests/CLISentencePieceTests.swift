// The command line with a SentencePiece-tokenized model: `convert` from an HF directory and from a GGUF whose
// tokenizer.ggml.model is "llama", `inspect` names the tokenizer family, `train` 2 steps and `eval` run on
// plain and conversational records (Tests/ModelFilesTests/Fixtures/tiny_llama_spm*).

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test(arguments: ["tiny_llama_spm", "tiny_llama_spm.gguf"])
    func sentencePieceModelConvertsTrainsAndEvaluates(_ name: String) throws {
        let (_, inspected) = try CLIFixture().roundTrip(
            "ModelFilesTests/Fixtures/" + name, name: "spm", expecting: ["SentencePiece BPE"],
            conversations: [
                #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}], "chosen": [{"role": "assistant", "content": "Because."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
            ])
        let tokenizerLine = inspected.split(separator: "\n").first { $0.hasPrefix("tokenizer") } ?? ""
        #expect(tokenizerLine.contains("SentencePiece BPE") && tokenizerLine.contains("byte fallback"), "\(tokenizerLine)")
        #expect(tokenizerLine.contains(name.hasSuffix(".gguf") ? "merges by score" : "Metaspace always"), "\(tokenizerLine)")
    }
}
