// `leandpo inspect` on a training checkpoint: what it is, its step, its base fingerprint (the one
// `inspect` of the model prints), sizes, compression ratio, training arguments and tensor checksums.

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test func inspectDescribesACheckpoint() throws {
        let f = try CLIFixture()
        let r = try f.train("out", ["--max-steps", "3", "--save-steps", "2", "--lora-r", "4", "--beta", "0.2", "--logging-steps", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let model = try CLI.run(["inspect", f.model], directory: f.directory)
        #expect(model.status == 0, "\(model.stderr)")
        let fingerprint = try #require(
            model.stdout.split(separator: "\n").first { $0.hasPrefix("fingerprint") }?.split(separator: " ").last.map(String.init))

        let out = try CLI.run(["inspect", f.path("out/checkpoint-2")], directory: f.directory)
        #expect(out.status == 0, "\(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        func line(_ prefix: String) -> String { lines.first { $0.hasPrefix(prefix) } ?? "" }
        #expect(line("checkpoint").contains("checkpoint-2"))
        #expect(line("format").contains("v2"))
        #expect(line("step").contains("2 of 3"))
        #expect(line("base").contains("fingerprint \(fingerprint)"))
        #expect(line("lora").contains("r 4"))
        #expect(line("loss").contains("sigmoid, beta 0.2"))
        #expect(line("sizes").contains("zstd") && line("sizes").contains("x)"), "\(line("sizes"))")
        #expect(line("open window").contains("2 micro-batches"), "steps 1 and 2 are not logged yet (--logging-steps 3)")
        #expect(lines.contains { $0.hasPrefix("  lora ") && $0.contains("xxh64") })
        #expect(lines.contains { $0.hasPrefix("  adamw.m ") } && lines.contains { $0.hasPrefix("  adamw.v ") })
        #expect(line("arguments").contains(#""max_steps":3"#))

        let last = try CLI.run(["inspect", f.path("out/checkpoint-3")], directory: f.directory)
        #expect(last.stdout.contains("step         3 of 3") && last.stdout.contains("0 micro-batches"), "\(last.stdout)")

        let stats = try CLI.run(["inspect", f.path("out/checkpoint-2"), "--tensor", "lora"], directory: f.directory)
        #expect(stats.status == 0 && stats.stdout.contains("mean") && stats.stdout.contains("non-finite 0"), "\(stats.stdout)")
        let missing = try CLI.run(["inspect", f.path("out/checkpoint-2"), "--tensor", "nope"], directory: f.directory)
        #expect(missing.status == 1)
        #expect(errorLine(missing).contains("no tensor nope"))
    }
}
