// `--compute-dtype bf16` end to end on the tiny CLI model: a few training steps close to f32's, the
// fallback note (simulated with LEANDPO_BF16_UNSUPPORTED=1) with f32's losses bit for bit, and eval and
// generate accepting the option. Tolerance: losses within 1e-2 of f32's and grad norms within 5 % (bf16
// keeps 8 significant bits: products over K ≤ 24 move by ~2⁻⁸ relative). Step 1 is no longer ln 2 exactly:
// the reference pass scores the pairs in other groupings than the policy pass, and oneDNN's bf16 sums
// are not bitwise independent of the batch shape (measured 8e-4 off ln 2).

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test func computeDTypeBF16TrainsCloseToF32AndFallsBackWithANote() throws {
        let f = try CLIFixture()
        let options = ["--max-steps", "4", "--logging-steps", "1", "--lora-r", "4"]
        let f32 = try f.train("f32", options)
        #expect(f32.status == 0, "\(f32.stderr)")
        let fallback = try f.train("fallback", options + ["--compute-dtype", "bf16"], environment: ["LEANDPO_BF16_UNSUPPORTED": "1"])
        #expect(fallback.status == 0, "\(fallback.stderr)")
        let notes = fallback.stderr.split(separator: "\n").filter { $0.contains("--compute-dtype bf16 falls back to f32") }
        #expect(notes.count == 1, "one fallback note: \(fallback.stderr)")
        func column(_ run: String, _ key: String) -> [Double] { f.metrics(run).compactMap { $0[key] as? Double } }
        #expect(column("fallback", "loss") == column("f32", "loss"), "the fallback is f32 itself")

        let bf16 = try f.train("bf16", options + ["--compute-dtype", "bf16"])
        #expect(bf16.status == 0, "\(bf16.stderr)")
        let supported = !bf16.stderr.contains("falls back")
        let (a, b) = (column("bf16", "loss"), column("f32", "loss"))
        #expect(a.count == 4 && b.count == 4)
        #expect(abs(a[0] - log(2.0)) < 1e-2, "step 1: \(a[0])")
        for i in 0..<min(a.count, b.count) { #expect(abs(a[i] - b[i]) < 1e-2, "step \(i + 1): \(a[i]) vs f32 \(b[i])") }
        let (ga, gb) = (column("bf16", "grad_norm"), column("f32", "grad_norm"))
        for i in 0..<min(ga.count, gb.count) { #expect(abs(ga[i] - gb[i]) <= 0.05 * gb[i], "grad norm step \(i + 1): \(ga[i]) vs \(gb[i])") }
        if supported { #expect(a != b, "bf16 products ran, so some loss differs from f32's") }

        // eval and generate take the option too.
        let e = try CLI.run(
            ["eval", "--model", f.model, "--data", f.data, "--threads", "1", "--compute-dtype", "bf16"], environment: f.environment,
            directory: f.directory)
        #expect(e.status == 0, "\(e.stderr)")
        let g = try CLI.run(
            ["generate", "--model", f.model, "--prompt", "ab", "--max-tokens", "3", "--threads", "1", "--compute-dtype", "bf16"],
            environment: f.environment.merging(["LEANDPO_BF16_UNSUPPORTED": "1"]) { _, b in b }, directory: f.directory)
        #expect(g.status == 0, "\(g.stderr)")
        #expect(g.stderr.contains("--compute-dtype bf16 falls back to f32"), "\(g.stderr)")
        let bad = try CLI.run(["eval", "--model", f.model, "--data", f.data, "--compute-dtype", "f16"], directory: f.directory)
        #expect(bad.status != 0 && bad.stderr.contains("compute-dtype"), "\(bad.stderr)")
    }
}
