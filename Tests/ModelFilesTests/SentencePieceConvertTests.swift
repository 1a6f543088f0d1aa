// Converting models whose tokenizer is SentencePiece-style: a tiny random Llama as an HF directory and as the GGUF
// llama.cpp's converter would write (tools/reference/gen_spm_tokenizer_fixtures.py), through MTF and back out
// through hf and gguf export; the tokenizer must give the ids Hugging Face gave on the fixture strings.

import Foundation
import JSON
import ModelFiles
import TensorFile
import TestSupport
import Testing
import Tokenizer

/// The strings and the ids of the llama_hub tokenizer (Tests/TokenizerTests/Fixtures/spm/spm_encodings.json).
struct SPMExpectations {
    var strings: [String]
    /// tokenizers from tokenizer.json alone (llama.cpp's rules: "▁" before every text piece).
    var fileIds: [[Int]]
    /// transformers 5 with the directory's tokenizer_config.json (LlamaTokenizer, legacy true).
    var transformersIds: [[Int]]

    static func load() throws -> SPMExpectations {
        let path = TestPaths.repositoryRoot + "/Tests/TokenizerTests/Fixtures/spm/spm_encodings.json"
        let json = try JSONValue.read(path)
        let stringValues = try #require(json["strings"]?.array)
        let strings = stringValues.compactMap { $0.string }
        let v = try #require(json["variants"]?["llama_hub"])
        let idValues = try #require(v["ids"]?.array)
        let ids = idValues.map { $0.array?.compactMap { $0.int } ?? [] }
        var transformers = ids
        for (k, value) in v["transformers_ids"]?.object ?? [:] {
            if let i = Int(k) { transformers[i] = value.array?.compactMap(\.int) ?? [] }
        }
        return SPMExpectations(strings: strings, fileIds: ids, transformersIds: transformers)
    }
}

func differing(_ t: TokenizerData, _ strings: [String], _ expected: [[Int]]) throws -> [Int] {
    let tokenizer = try BPETokenizer(t)
    return strings.indices.filter { tokenizer.encode(strings[$0]) != expected[$0] }
}

@Suite struct SentencePieceConvertTests {
    @Test func hfDirectoryAndGGUFHoldTheSameModel() throws {
        let hf = try ModelImporter.open(Fixture.path("tiny_llama_spm"))
        let gguf = try ModelImporter.open(Fixture.path("tiny_llama_spm.gguf"))
        #expect(hf.metadata.tokenizer.family == .sentencePieceBPE && gguf.metadata.tokenizer.family == .sentencePieceBPE)
        #expect(hf.metadata.config.vocabSize == gguf.metadata.config.vocabSize)
        #expect(try loadAll(hf) == loadAll(gguf))
        #expect(hf.metadata.tokenizer.addBosToken && gguf.metadata.tokenizer.addBosToken)
        #expect(hf.metadata.chatTemplate == gguf.metadata.chatTemplate && hf.metadata.chatTemplate != nil)
    }

    @Test(arguments: ["tiny_llama_spm", "tiny_llama_spm.gguf"])
    func convertsAndExportsWithTheSameIds(_ name: String) throws {
        let expect = try SPMExpectations.load()
        // The HF directory tokenizes as transformers does (its tokenizer_config.json); the GGUF as llama.cpp does.
        let want = name.hasSuffix(".gguf") ? expect.fileIds : expect.transformersIds
        let dir = TempDir("spm-convert")
        let source = try ModelImporter.open(Fixture.path(name))
        _ = try Converter.convert(source: source, to: dir.file("m.mtf"), dtype: .f32, progress: nil)
        let mtf = try MappedTensorFile(path: dir.file("m.mtf"))
        #expect(mtf.metadata.tokenizer == source.metadata.tokenizer)
        #expect(try differing(mtf.metadata.tokenizer, expect.strings, want).isEmpty, "\(name) after convert")

        // Export: hf (tokenizer.json + tokenizer_config.json) and gguf (tokenizer.ggml.* model llama), read back.
        let mtfSource = try MTFModelSource(file: mtf)
        try HFExporter.write(source: mtfSource, to: dir.file("hf"), dtype: .f32)
        try GGUFExporter.write(source: mtfSource, to: dir.file("m.gguf"), type: .f32)
        let hfBack = try ModelImporter.open(dir.file("hf"))
        let ggufBack = try ModelImporter.open(dir.file("m.gguf"))
        #expect(try differing(hfBack.metadata.tokenizer, expect.strings, want).isEmpty, "\(name) → hf export")
        #expect(try loadAll(hfBack) == loadAll(source))
        #expect(try loadAll(ggufBack) == loadAll(source))
        // GGUF has only llama.cpp's rules; they equal transformers' where the source used them (the GGUF source)
        // and on every string that does not start with a space or follow a special token otherwise.
        let ggufTokenizer = ggufBack.metadata.tokenizer
        #expect(ggufTokenizer.sentencePiece?.scores != nil)
        if name.hasSuffix(".gguf") {
            #expect(ggufTokenizer == source.metadata.tokenizer)
            #expect(try differing(ggufTokenizer, expect.strings, want).isEmpty, "\(name) → gguf export")
        } else {
            #expect(try differing(ggufTokenizer, expect.strings, expect.fileIds).isEmpty, "\(name) → gguf export (llama.cpp rules)")
        }
    }
}
