// `leandpo plot` on a real (tiny) training run: the SVG with every core panel, the TensorBoard event file,
// and the one clear line when --png cannot find rsvg-convert.

import Foundation
import Testing

extension CLITests {
    @Test func plotDrawsATrainingRun() throws {
        let f = try CLIFixture()
        let r = try f.train("out", ["--max-steps", "4", "--logging-steps", "1", "--eval-split", "0.25", "--eval-steps", "2"])
        #expect(r.status == 0, "\(r.stderr)")

        let plot = try CLI.run(["plot", f.path("out"), "--tensorboard"], directory: f.directory)
        #expect(plot.status == 0, "\(plot.stderr)")
        let svg = try String(contentsOfFile: f.path("out/curves.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"))
        for id in ["loss", "reward-margins", "reward-accuracy", "rewards", "logps", "grad-norm", "learning-rate"] {
            #expect(svg.contains(#"<g id="panel-\#(id)""#), "\(id)")
        }
        #expect(svg.contains("stroke-dasharray"), "evaluation curves are dashed")
        #expect(!svg.lowercased().contains("nan") && !svg.contains("inf\""))
        let events = try FileManager.default.contentsOfDirectory(atPath: f.path("out")).filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(events.count == 1)
        #expect(plot.stdout.contains("wrote \(f.path("out/curves.svg")) (") && plot.stdout.contains(events.first ?? "?"))

        // Another output path; a second event file is refused (TensorBoard would show every value twice).
        let again = try CLI.run(["plot", f.path("out/metrics.jsonl"), "-o", f.path("other.svg"), "--tensorboard"], directory: f.directory)
        #expect(again.status == 1)
        #expect(errorLine(again).contains("already holds TensorBoard event files"))

        // --png without rsvg-convert on the PATH: the SVG is written, and one line says how to get the PNG.
        let png = try CLI.run(
            ["plot", f.path("out"), "-o", f.path("no-png.svg"), "--png"], environment: ["PATH": f.directory], directory: f.directory)
        #expect(png.status == 1)
        #expect(errorLine(png).contains("apt-get install librsvg2-bin"))
        #expect(FileManager.default.fileExists(atPath: f.path("no-png.svg")))

        let missing = try CLI.run(["plot", f.path("nothing-here")], directory: f.directory)
        #expect(missing.status == 1)
        #expect(errorLine(missing).contains("no such run directory"))
    }
}

extension CLITests {
    /// `--report-to tensorboard` writes an event file during training beside metrics.jsonl.
    @Test func reportToTensorBoardWritesEvents() throws {
        let f = try CLIFixture()
        let r = try f.train("tb", ["--max-steps", "2", "--logging-steps", "1", "--report-to", "tensorboard"])
        #expect(r.status == 0, "\(r.stderr)")
        let events = try FileManager.default.contentsOfDirectory(atPath: f.path("tb")).filter { $0.hasPrefix("events.out.tfevents.") }
        #expect(events.count == 1)
        let size = try FileManager.default.attributesOfItem(atPath: f.path("tb/" + (events.first ?? "")))[.size] as? Int ?? 0
        #expect(size > 100)
    }
}
