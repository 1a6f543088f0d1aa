// The command line with a tiny Gemma 2 and a tiny Gemma 3 (Tests/ModelFilesTests/Fixtures/tiny_gemma{2,3}_spm, from
// tools/reference/gen_tiny_gemma_models.py): `convert` from the HF directory and from the GGUF gguf-py writes as
// llama.cpp's converter does, `inspect` names the architecture and its settings, `train` 2 steps, `eval`, `export` to
// hf, gguf and peft, each export read back (hf and gguf converted again, the PEFT adapter scored by eval). Both
// conversions are the same model: their eval log-probs agree.

import Foundation
import TestSupport
import Testing

extension CLITests {
    /// What `inspect` says of each family's fixture, from either source and after each export.
    static let gemmaInspect: [String: [String]] = [
        "gemma2": ["architecture gemma2", "soft caps attention 3.0, logits 2.0", "sliding window 512 on 2 of 3 layers"],
        "gemma3": [
            "architecture gemma3", "rope_theta 1000000.0 (linear ×8.0)", "qk norm true", "soft caps none", "sliding window 8 on 5 of 6 layers",
        ],
    ]

    @Test(arguments: ["tiny_gemma2_spm", "tiny_gemma2_spm.gguf", "tiny_gemma3_spm", "tiny_gemma3_spm.gguf"])
    func gemmaConvertsTrainsEvaluatesAndExports(_ name: String) throws {
        let family = String(name.dropFirst("tiny_".count).prefix("gemma2".count))
        let expected = try #require(Self.gemmaInspect[family])
        let f = try CLIFixture()
        // Gemma 2's template raises on a system message; Gemma 3's folds one into the first user turn.
        let (mtf, _) = try f.roundTrip(
            "ModelFilesTests/Fixtures/" + name, name: "gemma", expecting: expected + ["SentencePiece BPE"],
            conversations: [
                #"{"prompt": [{"role": "user", "content": "Why?"}], "chosen": [{"role": "assistant", "content": "Because."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
            ]
                + (family == "gemma3"
                    ? [
                        #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}], "rejected": [{"role": "assistant", "content": "Green, mostly, on Tuesdays."}]}"#
                    ] : []))

        // Every export succeeds; hf and gguf convert back to the same family with the same settings.
        try f.exportAndConvertBack(model: mtf, expecting: expected)
        // The PEFT export scores the records as the trained adapter does (f32 A and B, the same scale).
        func scores(_ adapter: String) throws -> [String] {
            let out = f.path("rows-\(adapter).jsonl")
            let r = try CLI.run(
                ["eval", "--model", mtf, "--data", f.path("gemma.jsonl"), "--adapter", f.path(adapter), "--output", out, "--threads", "1"],
                environment: f.environment, directory: f.directory)
            #expect(r.status == 0, "\(adapter): \(r.stderr)")
            return try Self.logps(out)
        }
        #expect(try scores("peft") == scores("out"))
    }

    /// The four summed log-probs of every row of `eval --output`, as written.
    static func logps(_ path: String) throws -> [String] {
        let rows = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        return try rows.map { line in
            let row = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return ["policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps"]
                .map { "\(row[$0] ?? "missing")" }.joined(separator: " ")
        }
    }

    /// The HF directory and the gguf-py GGUF convert to the same model: `eval` of the base gives identical
    /// log-probs. The GGUF holds f32(w + 1) and the importer w' = f32(f32(w + 1) − 1); the model computes f32(1 + w')
    /// at load, which is f32(w + 1) again (the subtraction is exact for values in [0.5, 2]), so not one bit differs.
    /// (Gemma 3's fixture also keeps w on a 2^-20 grid, so even w' = w and its exports equal the HF directory's.)
    @Test(arguments: ["gemma2", "gemma3"])
    func gemmaHFAndGGUFScoreTheSame(_ family: String) throws {
        let f = try CLIFixture()
        let records = CLIFixture.familyRecords([])
        try f.write(records, to: "pairs.jsonl")
        var rows: [[[String: Double]]] = []
        for suffix in ["", ".gguf"] {
            let (mtf, _) = try f.convertAndInspect(
                TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/tiny_\(family)_spm" + suffix, to: "m\(suffix).mtf")
            let out = f.path("rows\(suffix).jsonl")
            let r = try CLI.run(
                ["eval", "--model", mtf, "--data", f.path("pairs.jsonl"), "--output", out, "--threads", "1"], environment: f.environment,
                directory: f.directory)
            #expect(r.status == 0, "\(r.stderr)")
            rows.append(
                try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map {
                    try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]).compactMapValues { $0 as? Double }
                })
        }
        #expect(rows[0].count == records.count && rows[1].count == records.count)
        var worst = 0.0
        for (hf, gguf) in zip(rows[0], rows[1]) {
            for key in ["policy_chosen_logps", "policy_rejected_logps"] {
                let a = try #require(hf[key]), b = try #require(gguf[key])
                worst = max(worst, abs(a - b))
            }
        }
        #expect(worst == 0, "\(family): HF vs GGUF eval log-probs differ by \(worst)")
        print("\(family): HF directory vs GGUF, max |Δ summed log-prob| \(worst)")
    }
}
