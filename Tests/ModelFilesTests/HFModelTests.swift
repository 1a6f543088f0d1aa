// Hugging Face directories → model → MTF: a single model.safetensors, a single file next to config.json,
// sharded checkpoints with their index (and every way the index and shards can disagree), round trips
// through MTF in f32/bf16/f16, and what ModelImporter refuses.

import Foundation
import JSON
import ModelFiles
import SeededRandom
import TensorFile
import Testing

/// The HF tensors of the tiny Llama (same dims as TinyDims()), random f32.
func tinyHFTensors(tied: Bool = false) -> [(name: String, shape: [Int], values: [Float])] {
    var notes: [String] = []
    let config = try! HFConfig.modelConfig(
        try! JSONValue.parse(Data(llamaConfigJSON(#""tie_word_embeddings": \#(tied)"#).utf8), path: "c"), path: "c", notes: &notes)
    var rng = SplitMix64(seed: 11)
    return config.requiredTensors.map { t in (t.name, t.shape, (0..<t.shape.reduce(1, *)).map { _ in rng.float() }) }
}

/// Writes config, tokenizer files and weights (in `dtype`, split over `shards` files when > 1).
@discardableResult
func writeTinyHF(_ dir: TempDir, dtype: DType = .f32, shards: Int = 1, tied: Bool = false) throws -> [String: [Float]] {
    try dir.write("config.json", llamaConfigJSON(#""tie_word_embeddings": \#(tied), "torch_dtype": "float32""#))
    try dir.write("tokenizer.json", json: tinyTokenizerJSON())
    try dir.write(
        "tokenizer_config.json", json: ["bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "add_bos_token": false, "chat_template": "CT"])
    let tensors = tinyHFTensors(tied: tied)
    var weightMap: [String: String] = [:]
    for s in 0..<shards {
        let part = tensors.enumerated().filter { $0.offset % shards == s }.map(\.element)
        let name = shards == 1 ? "model.safetensors" : String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
        let w = try SafetensorsWriter(path: dir.file(name), tensors: part.map { TensorSpec(name: $0.name, dtype: dtype, shape: $0.shape) })
        for e in w.entries { try w.write(name: e.name, floats: part.first { $0.name == e.name }!.values) }
        try w.finish()
        for t in part { weightMap[t.name] = name }
    }
    if shards > 1 {
        try dir.write("model.safetensors.index.json", json: ["metadata": ["total_size": 0], "weight_map": weightMap])
    }
    var out: [String: [Float]] = [:]
    for t in tensors {
        out[t.name] = t.values.map { dtype == .f16 ? halfToFloat(floatToHalf($0)) : dtype == .bf16 ? bf16ToFloat(floatToBF16($0)) : $0 }
    }
    return out
}

@Test(arguments: [DType.f32, .bf16, .f16])
func hfDirectoryImports(dtype: DType) throws {
    let dir = TempDir()
    let expected = try writeTinyHF(dir, dtype: dtype)
    let s = try ModelImporter.open(dir.path)
    #expect(s.metadata.config == (try parseConfig(llamaConfigJSON(#""tie_word_embeddings": false"#))))
    #expect(s.metadata.tokenizer.vocab == tinyTokens && s.metadata.chatTemplate == "CT")
    #expect(s.metadata.provenance.sourceFormat == "safetensors" && s.metadata.provenance.sourceName == (dir.path as NSString).lastPathComponent)
    #expect(Set(s.tensors.map(\.sourceDType)) == [SafetensorsWriter.dtypeName(dtype)!])
    #expect(try loadAll(s) == expected)
    #expect(s.notes.contains { $0.contains("checkpoint dtype float32") })
}

@Test(arguments: [DType.f32, .bf16, .f16])
func roundTripThroughMTF(dtype: DType) throws {
    let dir = TempDir()
    let expected = try writeTinyHF(dir)
    let s = try ModelImporter.open(dir.path)
    let fp = try Converter.convert(source: s, to: dir.file("m.mtf"), dtype: dtype, progress: nil)
    let m = try MappedTensorFile(path: dir.file("m.mtf"))
    #expect(m.fingerprint == fp && m.metadata == s.metadata)
    #expect(m.tensors.map(\.name) == m.config.requiredTensors.map(\.name))
    for t in m.tensors {
        #expect(t.dtype == dtype)
        let want = expected[t.name]!.map { dtype == .f16 ? halfToFloat(floatToHalf($0)) : dtype == .bf16 ? bf16ToFloat(floatToBF16($0)) : $0 }
        #expect(m.view(t).toFloats() == want, "\(t.name)")
    }
    // MTF → safetensors with the writer export will use, and back: exact.
    let w = try SafetensorsWriter(
        path: dir.file("out.safetensors"), tensors: m.tensors.map { TensorSpec(name: $0.name, dtype: $0.dtype, shape: $0.shape) })
    for e in w.entries { try w.write(name: e.name, floats: m.view(e.name).toFloats()) }
    try w.finish()
    let back = try SafetensorsFile(path: dir.file("out.safetensors"))
    for t in m.tensors {
        var out = [Float](repeating: .nan, count: t.elementCount)
        try out.withUnsafeMutableBufferPointer { try back.readFloats(back.info(t.name)!, into: $0.baseAddress!) }
        #expect(out == m.view(t).toFloats())
    }
    // A quantized conversion: the matrices whose rows are whole blocks become q8_0, vectors stay f32.
    try Converter.convert(source: s, to: dir.file("q.mtf"), dtype: .q8_0, progress: nil)
    let q = try MappedTensorFile(path: dir.file("q.mtf"))
    for t in q.tensors {
        let quantized = t.shape.count == 2 && t.shape[1] % 32 == 0
        #expect(t.dtype == (quantized ? .q8_0 : .f32), "\(t.name)")
        let got = q.view(t).toFloats(), want = expected[t.name]!
        let amax = want.map(abs).max() ?? 0
        for i in want.indices { #expect(abs(got[i] - want[i]) <= amax / 127 + 1e-6, "\(t.name)[\(i)]") }
    }
}

@Test func singleSafetensorsFileNextToConfig() throws {
    let dir = TempDir()
    let expected = try writeTinyHF(dir)
    try FileManager.default.moveItem(atPath: dir.file("model.safetensors"), toPath: dir.file("weights.safetensors"))
    let s = try ModelImporter.open(dir.file("weights.safetensors"))
    #expect(try loadAll(s) == expected)
    #expect(s.metadata.provenance.sourceName == "weights.safetensors")
    // The directory finds a lone .safetensors file too.
    #expect(try loadAll(ModelImporter.open(dir.path)) == expected)
    try FileManager.default.removeItem(atPath: dir.file("config.json"))
    expectModelError("config.json is missing next to this file", kind: .missing) { _ = try ModelImporter.open(dir.file("weights.safetensors")) }
}

@Test func shardedCheckpointImports() throws {
    let dir = TempDir()
    let expected = try writeTinyHF(dir, dtype: .bf16, shards: 3)
    let s = try ModelImporter.open(dir.path)
    #expect((s as? HFModelSource)?.files.count == 3)
    #expect(try loadAll(s) == expected)
    #expect(try loadAll(ModelImporter.open(dir.file("model.safetensors.index.json"))) == expected)
    #expect(try loadAll(ModelImporter.open(dir.file("config.json"))) == expected)
}

@Test func shardsThatDisagreeWithTheIndexAreRefused() throws {
    func sharded(_ edit: (TempDir, inout [String: Any]) throws -> Void) throws -> TempDir {
        let dir = TempDir()
        try writeTinyHF(dir, shards: 2)
        var index =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("model.safetensors.index.json")))) as! [String: Any]
        try edit(dir, &index)
        try dir.write("model.safetensors.index.json", json: index)
        return dir
    }
    let first = "model-00001-of-00002.safetensors", second = "model-00002-of-00002.safetensors"
    var dir = try sharded { d, _ in try FileManager.default.removeItem(atPath: d.file(second)) }
    expectModelError("shard \(second) listed in the index does not exist", kind: .missing) { _ = try ModelImporter.open(dir.path) }
    // A tensor the index lists in the wrong shard.
    dir = try sharded { _, i in
        var m = i["weight_map"] as! [String: String]
        m["model.norm.weight"] = m["model.norm.weight"] == first ? second : first
        i["weight_map"] = m
    }
    expectModelError("tensor model.norm.weight is listed in", "but found in") { _ = try ModelImporter.open(dir.path) }
    // A tensor present in a shard but absent from the index.
    dir = try sharded { _, i in
        var m = i["weight_map"] as! [String: String]
        m["model.norm.weight"] = nil
        i["weight_map"] = m
    }
    expectModelError("tensor model.norm.weight is not listed in model.safetensors.index.json") { _ = try ModelImporter.open(dir.path) }
    // A tensor the index lists that no shard has.
    dir = try sharded { _, i in
        var m = i["weight_map"] as! [String: String]
        m["model.extra.weight"] = first
        i["weight_map"] = m
    }
    expectModelError("tensor model.extra.weight listed in the index is not in this shard", kind: .missing) { _ = try ModelImporter.open(dir.path) }
    // The same tensor in two shards (a third shard, listed for another tensor, repeats model.norm.weight).
    dir = try sharded { d, i in
        let specs = [
            TensorSpec(name: "model.norm.weight", dtype: .f32, shape: [32]), TensorSpec(name: "model.extra.weight", dtype: .f32, shape: [2]),
        ]
        let w = try SafetensorsWriter(path: d.file("zz-extra.safetensors"), tensors: specs)
        for e in w.entries { try w.write(name: e.name, floats: [Float](repeating: 1, count: e.shape[0])) }
        try w.finish()
        var m = i["weight_map"] as! [String: String]
        m["model.extra.weight"] = "zz-extra.safetensors"
        i["weight_map"] = m
    }
    expectModelError("zz-extra.safetensors: tensor model.norm.weight is also in \(second)") { _ = try ModelImporter.open(dir.path) }
    dir = try sharded { _, i in i["weight_map"] = ["a": "../outside.safetensors"] }
    expectModelError("must name a shard file inside the directory") { _ = try ModelImporter.open(dir.path) }
}

@Test func hfDirectoryProblemsAreNamed() throws {
    let dir = TempDir()
    try writeTinyHF(dir)
    try FileManager.default.removeItem(atPath: dir.file("model.safetensors"))
    expectModelError("no safetensors weights", "pytorch_model.bin is not supported", kind: .missing) { _ = try ModelImporter.open(dir.path) }
    // An integer tensor cannot become f32 weights.
    let w = try SafetensorsWriter(path: dir.file("model.safetensors"), tensors: [])
    try w.finish()
    try dir.write(
        "model.safetensors",
        safetensorsBytes(#"{"model.norm.weight":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, [UInt8](repeating: 0, count: 16)))
    expectModelError("tensor model.norm.weight has dtype I64; only F32, F16 and BF16 can be converted", kind: .unsupported) {
        _ = try ModelImporter.open(dir.path)
    }
    // Missing tensors are found by the converter, before anything is written.
    try dir.write(
        "model.safetensors",
        safetensorsBytes(#"{"model.norm.weight":{"dtype":"F32","shape":[32],"data_offsets":[0,128]}}"#, [UInt8](repeating: 0, count: 128)))
    let s = try ModelImporter.open(dir.path)
    expectModelError("required tensor model.embed_tokens.weight is missing", kind: .missing) {
        try Converter.convert(source: s, to: dir.file("x.mtf"), dtype: .f32, progress: nil)
    }
    try dir.write("config.json", "{not json")
    expectModelError("config.json", "invalid JSON", kind: .malformed) { _ = try ModelImporter.open(dir.path) }
}

@Test func importerRefusesWhatItCannotRead() throws {
    let dir = TempDir()
    try dir.write("notes.txt", "hello, not a model")
    expectModelError("not a GGUF file, a safetensors file or a Hugging Face model directory", kind: .unsupported) {
        _ = try ModelImporter.open(dir.file("notes.txt"))
    }
    expectModelError("no such file or directory", kind: .io) { _ = try ModelImporter.open(dir.file("absent.gguf")) }
    let expected = try writeTinyHF(dir)
    try Converter.convert(source: try ModelImporter.open(dir.path), to: dir.file("m.mtf"), dtype: .f32, progress: nil)
    expectModelError("already an MTF file", kind: .unsupported) { _ = try ModelImporter.open(dir.file("m.mtf")) }
    #expect(expected.count == 21)
}

@Test func convertRefusesAChatTemplateThatDoesNotParse() throws {
    let dir = TempDir()
    try writeTinyHF(dir)
    try dir.write("chat_template.jinja", "{% for m in messages %}\n{{ m.content }\n{% endfor %}")
    expectModelError("the chat template does not parse", "chat template line 2", kind: .malformed) {
        try Converter.convert(source: try ModelImporter.open(dir.path), to: dir.file("m.mtf"), dtype: .f32, progress: nil)
    }
    #expect(!FileManager.default.fileExists(atPath: dir.file("m.mtf")))
    // parsed, not rendered: a template that would only fail when run is stored as it is
    try dir.write("chat_template.jinja", "{{ raise_exception('no system role') }}")
    try Converter.convert(source: try ModelImporter.open(dir.path), to: dir.file("m.mtf"), dtype: .f32, progress: nil)
}
