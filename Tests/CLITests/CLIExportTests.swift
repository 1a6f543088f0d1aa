// `leandpo export` refusals that protect the user's files, as a person meets them: exit 1, one line on
// stderr, the input untouched. And the adapter/ directory a training run leaves: PEFT files, tokenizer
// files and a model card.

import Foundation
import TestSupport
import Testing

extension CLITests {
    /// `--to` the base model itself replaced the base with --force; now it is refused whatever the spelling.
    @Test func exportOntoTheBaseIsRefusedEvenWithForce() throws {
        let f = try CLIFixture()
        let r = try f.train("out", ["--max-steps", "1", "--lora-r", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: f.model))
        for to in [f.model, f.directory + "/./tiny.mtf"] {
            let e = try CLI.run(["export", "--model", f.model, "--adapter", f.path("out"), "--to", to, "--force"], directory: f.directory)
            #expect(e.status == 1)
            #expect(errorLine(e).contains("is the base model being exported"), "\(e.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.model)) == before)

        // A non-finite adapter is refused by name.
        let adapter = f.path("out/adapter/adapter_model.safetensors")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: adapter)))
        let headerLength = bytes.withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { nan in
            for k in 0..<4 { bytes[8 + headerLength + k] = nan[k] }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: adapter))
        let nan = try CLI.run(["export", "--model", f.model, "--adapter", f.path("out/adapter"), "--to", f.path("m.gguf")], directory: f.directory)
        #expect(nan.status == 1)
        #expect(errorLine(nan).contains("holds NaN at element 0"), "\(nan.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.path("m.gguf")))
    }

    @Test func trainingLeavesAnAdapterDirectoryTheEcosystemLoads() throws {
        let f = try CLIFixture()
        let r = try f.train("out", ["--max-steps", "2", "--lora-r", "2", "--logging-steps", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: f.path("out/adapter")).sorted()
        for name in ["README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            #expect(files.contains(name), "\(files)")
        }
        let config = try String(contentsOfFile: f.path("out/adapter/adapter_config.json"), encoding: .utf8)
        #expect(!config.contains("\"base_model_name_or_path\": null") && !config.contains(".mtf\""), "\(config)")
        let card = try String(contentsOfFile: f.path("out/adapter/README.md"), encoding: .utf8)
        #expect(card.contains("steps: 2") && card.contains("| `loss` |") && card.contains("leandpo export --model tiny.mtf"), "\(card)")
    }
}
