// Writing metrics.jsonl: valid JSON on every line whatever the values, keys in order, and a failed write
// (a full disk) reported as an error instead of a trap.

import Foundation
import JSON
import Testing

import Reports

@Suite struct MetricsLogTests {
    @Test func everyLineIsJSONEvenWithNonFiniteValues() throws {
        let path = try temporaryDirectory() + "/metrics.jsonl"
        let log = try MetricsLog(path: path)
        try log.write([("step", 3), ("loss", .nan), ("kl", .infinity), ("x", -.infinity), ("learning_rate", 1e-5), ("big", 1e300)])
        try log.write([("eval_loss", 0.5), ("step", 5), ("epoch", 0.25)])
        // A reopened log appends (a resumed run keeps its earlier lines).
        try MetricsLog(path: path).write([("step", 6), ("loss", 0.125)])

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0] == #"{"step":3,"loss":null,"kl":null,"x":null,"learning_rate":1e-05,"big":1e+300}"#)
        #expect(lines[1] == #"{"eval_loss":0.5,"step":5,"epoch":0.25}"#)
        for line in lines {
            guard case .object(let fields) = try JSONReader.parse(String(line), rules: .strict) else {
                Issue.record("not an object: \(line)")
                continue
            }
            guard case .int = try #require(fields.first { $0.key == "step" }).value else {
                Issue.record("step is not an integer in \(line)")
                continue
            }
        }
        let read = try RunMetrics.read(path: path)
        #expect(read.train("learning_rate")?.points == [MetricPoint(step: 3, value: 1e-5)])
        #expect(read.eval("loss")?.points == [MetricPoint(step: 5, value: 0.5)])
    }

    @Test func valuesRoundTripExactly() throws {
        let path = try temporaryDirectory() + "/metrics.jsonl"
        let values: [Double] = [
            0.1, 1.0 / 3, -61.41903805732727, 2.2250738585072014e-308, Double.leastNonzeroMagnitude, 1.7976931348623157e308, 0.00019500000000000002,
        ]
        try MetricsLog(path: path).write([("step", 1)] + values.enumerated().map { ("v\($0.offset)", $0.element) })
        let read = try RunMetrics.read(path: path)
        for (i, v) in values.enumerated() { #expect(read.train("v\(i)")?.points.first?.value == v) }
    }

    @Test func aFullDiskIsAnErrorNotATrap() throws {
        #expect(FileManager.default.fileExists(atPath: "/dev/full"), "this test needs Linux's /dev/full")
        let log = try MetricsLog(path: "/dev/full")
        let error = try #require(throws: ReportFileError.self) { try log.write([("step", 1), ("loss", 0.5)]) }
        #expect(error.path == "/dev/full")
        #expect(error.description.contains("No space left on device"))
        #expect(error.description.contains("disk is full"))
    }

    @Test func anUnwritablePlaceIsAnError() throws {
        let path = try temporaryDirectory() + "/no-such-directory/metrics.jsonl"
        let error = try #require(throws: ReportFileError.self) { try MetricsLog(path: path) }
        #expect(error.description == "\(path): cannot open for appending: No such file or directory")
    }
}
