// Training on a quantized base (issue 15 §4), end to end on SmolLM2: convert the demo GGUF to q8_0 and
// q4_0 MTF files, train two steps on each and on the f32 base with the same data and seed, and compare.
// Tolerances (measured, with room): step 1 is ln 2 exactly on every base (the reference is the base
// itself); step 2's loss within 2e-2 of f32's for q8_0 (measured 6.9e-3: 0.3635 vs 0.3704 after one
// update at lr 1e-3) and 5e-2 for q4_0: the whole model, LM head included, is quantized, so the first
// update's gradients and the next pairs' log-probs move by about a percent.

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test(.enabled(if: TestPaths.smolLM2 != nil, "needs the SmolLM2 MTF and its GGUF (tools/fetch-model)"))
    func trainsOnAQuantizedBase() throws {
        let f32 = try #require(TestPaths.smolLM2)
        let gguf = (f32 as NSString).deletingLastPathComponent + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        try #require(FileManager.default.fileExists(atPath: gguf), "the GGUF beside the MTF")
        let dir = TestPaths.temporaryDirectory("cli-quantized")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = TestPaths.repositoryRoot + "/tools/demo/train.jsonl"
        func losses(_ model: String, _ name: String) throws -> [Double] {
            let r = try CLI.run(
                [
                    "train", "--model", model, "--data", data, "--output", dir + "/" + name, "--max-steps", "2", "--batch-size", "2",
                    "--max-length", "96", "--logging-steps", "1", "--lr", "1e-3", "--lora-r", "4", "--threads", "2",
                ], environment: ["LEANDPO_CACHE": dir + "/cache"], directory: dir)
            #expect(r.status == 0, "\(r.stderr)")
            let text = try String(contentsOfFile: dir + "/" + name + "/metrics.jsonl", encoding: .utf8)
            return text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["loss"] as? Double
            }
        }
        let reference = try losses(f32, "f32")
        #expect(reference.count == 2)
        for (dtype, tolerance) in [("q8_0", 2e-2), ("q4_0", 5e-2)] {
            let path = dir + "/base.\(dtype).mtf"
            let c = try CLI.run(["convert", gguf, "-o", path, "--dtype", dtype], directory: dir)
            #expect(c.status == 0, "\(c.stderr)")
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            #expect(size < 200 << 20, "\(dtype): \(size) bytes, expected far below the 514 MiB f32 file")
            let got = try losses(path, dtype)
            #expect(got.count == 2)
            #expect(abs(got[0] - log(2.0)) < 1e-6, "\(dtype) step 1: \(got[0])")
            #expect(abs(got[1] - reference[1]) < tolerance, "\(dtype) step 2: \(got[1]) vs f32 \(reference[1])")
        }
    }
}
