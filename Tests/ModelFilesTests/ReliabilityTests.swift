// Issue 13's recipes against the converter: a config that under-counts the layers (the extra layers'
// weights would be dropped silently) and one that would trap every later command are refused before
// anything is written.

import Foundation
import ModelFiles
import TensorFile
import Testing

@Test func aConfigWithFewerLayersThanTheWeightsIsRefused() throws {
    let dir = TempDir()
    try writeTinyHF(dir)
    // Recipe: num_hidden_layers lowered by one in config.json, the weights untouched.
    var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("config.json")))) as! [String: Any]
    let layers = config["num_hidden_layers"] as! Int
    config["num_hidden_layers"] = layers - 1
    try dir.write("config.json", json: config)
    let s = try ModelImporter.open(dir.path)
    expectModelError("model.layers.\(layers - 1).", "is not used by the config") {
        try Converter.convert(source: s, to: dir.file("m.mtf"), dtype: .f32, progress: nil)
    }
    #expect(!FileManager.default.fileExists(atPath: dir.file("m.mtf")))
}

@Test func aConfigThatWouldTrapLaterIsRefusedAtConvert() throws {
    let dir = TempDir()
    try writeTinyHF(dir)
    // Recipe: max_position_embeddings 0 converted, then every command hit RoPE's precondition.
    var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("config.json")))) as! [String: Any]
    config["max_position_embeddings"] = 0
    try dir.write("config.json", json: config)
    let s = try ModelImporter.open(dir.path)
    expectModelError("max_position_embeddings") { try Converter.convert(source: s, to: dir.file("m.mtf"), dtype: .f32, progress: nil) }
}

@Test func cancellingAConversionLeavesNoTemporaryFile() throws {
    let dir = TempDir()
    try writeTinyHF(dir)
    let s = try ModelImporter.open(dir.path)
    var asked = 0
    // Recipe: SIGTERM mid-convert (the CLI's handler raises the flag isCancelled reads).
    #expect(throws: Converter.Cancelled.self) {
        try Converter.convert(
            source: s, to: dir.file("m.mtf"), dtype: .f32,
            isCancelled: {
                asked += 1
                return asked > 3
            }, progress: nil)
    }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
    #expect(!names.contains { $0.hasPrefix(".") || $0 == "m.mtf" }, "\(names)")
}
