// Where a converted base came from, recorded in the MTF provenance as a Hugging Face id or directory
// (saved adapters name it as base_model_name_or_path); and the GGUF ↔ HF tensor-name table read both ways.

import Foundation
import ModelFiles
import TensorFile
import Testing

@Test func huggingFaceIDsFromURLs() {
    #expect(ModelOrigin.huggingFaceID(url: "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct")
    #expect(ModelOrigin.huggingFaceID(url: "https://huggingface.co/Qwen/Qwen2-0.5B/tree/main") == "Qwen/Qwen2-0.5B")
    #expect(ModelOrigin.huggingFaceID(url: "https://huggingface.co/datasets/org/data") == nil)
    #expect(ModelOrigin.huggingFaceID(url: "https://example.com/org/model") == nil)
    #expect(ModelOrigin.looksLikeHubID("org/model-1.5B") && !ModelOrigin.looksLikeHubID("/tmp/model") && !ModelOrigin.looksLikeHubID("./x/y"))
}

@Test func ggufSourceRepositoryIsRecorded() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("plain.gguf"))
    #expect(try GGUFModelSource(path: dir.file("plain.gguf")).metadata.provenance.baseModel == nil)
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("named.gguf")) {
        $0.add("general.source.repo_url", .string("https://huggingface.co/org/tiny-llama"))
        $0.add("general.base_model.0.repo_url", .string("https://huggingface.co/org/tiny-llama-parent"))
    }
    #expect(try GGUFModelSource(path: dir.file("named.gguf")).metadata.provenance.baseModel == "org/tiny-llama")
}

@Test func huggingFaceDirectoryOriginIsItsNameOrPath() throws {
    let dir = TempDir()
    try writeTinyHF(dir)
    let path = URL(fileURLWithPath: dir.path).standardizedFileURL.path
    #expect(try ModelImporter.open(dir.path).metadata.provenance.baseModel == path)
    try dir.write("config.json", llamaConfigJSON(#""tie_word_embeddings": false, "_name_or_path": "org/tiny-llama""#))
    #expect(try ModelImporter.open(dir.path).metadata.provenance.baseModel == "org/tiny-llama")
    try dir.write("config.json", llamaConfigJSON(#""tie_word_embeddings": false, "_name_or_path": "/somewhere/else""#))
    #expect(try ModelImporter.open(dir.path).metadata.provenance.baseModel == path)
}

/// One table, both directions: every name the architectures use maps to GGUF and back.
@Test func ggufTensorNamesRoundTrip() {
    var config = try! parseConfig(llamaConfigJSON(#""tie_word_embeddings": false"#))
    config.attentionBias = true
    config.qkNorm = true
    for (name, _) in config.requiredTensors {
        let g = GGUFExporter.ggufName(name)
        #expect(g != nil, "\(name)")
        #expect(g.flatMap { GGUFModelSource.huggingFaceName($0, layers: config.numHiddenLayers) } == name, "\(name)")
    }
    #expect(GGUFModelSource.huggingFaceName("blk.2.attn_q.weight", layers: 2) == nil)
    #expect(GGUFModelSource.huggingFaceName("blk.01.attn_q.weight", layers: 2) == nil)
}
