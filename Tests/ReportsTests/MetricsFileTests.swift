// Reading metrics.jsonl: training and evaluation rows, null and NaN, unreadable lines, a real run's file.

import Foundation
import Testing

import Reports

@Suite struct MetricsFileTests {
    @Test func trainAndEvalRowsAreSeparated() {
        let text = """
            {"step":2,"epoch":0.1,"loss":0.69,"rewards/margins":0.0,"grad_norm":null}
            {"eval_loss":0.7,"eval_rewards/accuracies":0.5,"step":2,"epoch":0.1}
            {"step":4,"epoch":0.2,"loss":0.5,"rewards/margins":0.25,"grad_norm":1.5}

            """
        let m = RunMetrics(text: text)
        #expect(m.skipped.isEmpty)
        #expect(m.rows.count == 3)
        #expect(m.trainNames == ["epoch", "loss", "rewards/margins", "grad_norm"])
        #expect(m.evalNames == ["loss", "rewards/accuracies"])
        #expect(m.train("loss")?.points == [MetricPoint(step: 2, value: 0.69), MetricPoint(step: 4, value: 0.5)])
        #expect(m.eval("loss")?.points == [MetricPoint(step: 2, value: 0.7)])
        // An evaluation row's epoch does not join the training series.
        #expect(m.train("epoch")?.points.count == 2)
        #expect(m.train("grad_norm")?.points.first?.value.isNaN == true)
        #expect(m.train("grad_norm")?.finitePoints == [MetricPoint(step: 4, value: 1.5)])
        #expect(m.stepRange == 2...4)
    }

    @Test func nonFiniteSpellingsOfOtherWritersRead() {
        let m = RunMetrics(text: #"{"step":1,"loss":NaN,"kl":Infinity,"x":-Infinity}"#)
        #expect(m.skipped.isEmpty)
        #expect(m.train("loss")?.points.first?.value.isNaN == true)
        #expect(m.train("kl")?.points.first?.value == .infinity)
        #expect(m.train("x")?.points.first?.value == -.infinity)
    }

    @Test func unreadableLinesAreSkippedWithTheirLineNumber() {
        let text = """
            {"step":1,"loss":0.5}
            {"loss":0.4}
            [1,2]
            {"step":3,"loss":0.3,"note":"text is not a curve"}
            {"step":4,"lo
            """
        let m = RunMetrics(text: text, path: "run/metrics.jsonl")
        #expect(m.rows.count == 2)
        #expect(m.train("loss")?.points.map(\.step) == [1, 3])
        #expect(m.train("note") == nil)
        #expect(m.skipped.count == 3)
        #expect(m.skipped[0] == #"run/metrics.jsonl line 2: no numeric "step""#)
        #expect(m.skipped[1] == "run/metrics.jsonl line 3: not a JSON object")
        #expect(m.skipped[2].hasPrefix("run/metrics.jsonl line 5: "))
    }

    @Test func aFileWithoutRowsIsAnError() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/metrics.jsonl"
        try Data("\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ReportFileError.self) { try RunMetrics.read(path: path) }
        #expect(throws: ReportFileError.self) { try RunMetrics.read(path: dir + "/missing.jsonl") }
    }

    /// metrics.jsonl of a real 20-step run (logging every 2 steps, evaluating every 5).
    @Test func aRealRun() throws {
        let m = try RunMetrics.read(path: try fixturePath("run-metrics.jsonl"))
        #expect(m.skipped.isEmpty)
        #expect(m.train("loss")?.points.map(\.step) == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20])
        #expect(m.eval("loss")?.points.map(\.step) == [5, 10, 15, 20])
        for name in ["rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"] {
            #expect(m.train(name)?.points.count == 10, "\(name)")
            #expect(m.eval(name)?.points.count == 4, "\(name)")
        }
        #expect(m.train("grad_norm")?.finitePoints.count == 10)
        #expect(m.eval("grad_norm") == nil)
    }
}

// MARK: - Helpers

func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "reports-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func fixturePath(_ name: String) throws -> String {
    try #require(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)).path
}
