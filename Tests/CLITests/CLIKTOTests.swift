// `leandpo train --loss kto` and `leandpo eval --loss kto` as a user runs them: paired data unpaired on load,
// TRL's KTO metrics in metrics.jsonl, the sampling requirement refused with its remedy, eval's JSON summary.

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test func ktoTrainsAndEvaluatesFromTheCommandLine() throws {
        let f = try CLIFixture()
        let shuffled = try f.train("kto", ["--loss", "kto", "--max-steps", "2"])
        #expect(shuffled.status == 1)
        #expect(errorLine(shuffled).contains("--no-shuffle"), "\(shuffled.stderr)")

        let run = try f.train("kto", ["--loss", "kto", "--no-shuffle", "--max-steps", "2", "--logging-steps", "1", "--desirable-weight", "1.5"])
        #expect(run.status == 0, "\(run.stderr)")
        let logs = f.metrics("kto")
        #expect(logs.count == 2)
        #expect(logs.allSatisfy { $0["kl"] != nil && $0["loss"] != nil && $0["rewards/accuracies"] == nil })

        let eval = try CLI.run(
            [
                "eval", "--model", f.model, "--data", f.data, "--loss", "kto", "--batch-size", "2", "--adapter", f.path("kto"), "--output",
                f.path("rows.jsonl"),
            ],
            environment: f.environment, directory: f.directory)
        #expect(eval.status == 0, "\(eval.stderr)")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any], "eval prints one JSON object")
        #expect(summary["kl"] != nil && summary["examples"] != nil && summary["loss"] != nil)
        let rows = try String(contentsOfFile: f.path("rows.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(rows.count == (summary["examples"] as? Int) && rows.first?.contains("\"label\":true") == true)
    }
}
