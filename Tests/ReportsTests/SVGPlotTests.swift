// The run picture: well-formed XML, every panel present, no NaN or infinity in a coordinate, whatever the
// data (gaps, one point, a constant, ranges as wide as Double), and sensible axes.

import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

import Reports

@Suite struct SVGPlotTests {
    @Test func aRealRunDrawsEveryPanel() throws {
        let m = try RunMetrics.read(path: try fixturePath("run-metrics.jsonl"))
        let svg = RunCurves.plot(m, run: "/tmp/run <&> \"x\"").svg()
        let doc = try parse(svg)
        let ids = doc.panelIDs
        for spec in RunCurves.core { #expect(ids.contains("panel-" + spec.id), "\(spec.id)") }
        // Other logged metrics get panels too; epoch does not; the warning signs only when logged.
        #expect(ids.contains("panel-logits"))
        #expect(ids.contains("panel-tokens-per-second"))
        #expect(!ids.contains("panel-epoch"))
        #expect(!ids.contains("panel-kl"))
        #expect(doc.texts.contains("LeanDPO training run: /tmp/run <&> \"x\""))
        #expect(doc.texts.contains("not in metrics.jsonl") == false)
        // Train and eval overlaid: the loss panel has a solid and a dashed path.
        #expect(doc.paths["panel-loss"]?.count == 2)
        #expect(doc.dashedPaths["panel-loss"] == 1)
        // Each of the 4 evaluations gets a marker in the loss panel, and the legend's eval swatch one more.
        #expect(doc.circles["panel-loss"] == 5)
        try checkCoordinates(doc)
    }

    @Test func warningSignPanelsAppearWhenLogged() throws {
        var text = ""
        for step in 1...4 {
            text +=
                #"{"step":\#(step),"loss":0.5,"logratio/chosen":-0.01,"logratio/rejected":-0.02,"kl":0.003,"length/chosen":120,"length/rejected":95,"length_margin_corr":0.4}"#
                + "\n"
        }
        let svg = RunCurves.plot(RunMetrics(text: text), run: "r").svg()
        let doc = try parse(svg)
        for spec in RunCurves.warningSigns { #expect(doc.panelIDs.contains("panel-" + spec.id), "\(spec.id)") }
        #expect(doc.paths["panel-logratio"]?.count == 2)
        #expect(doc.paths["panel-length"]?.count == 2)
        // Absent core metrics say so instead of drawing nothing silently.
        #expect(doc.texts.contains("not in metrics.jsonl"))
        try checkCoordinates(doc)
    }

    /// Data a run can produce, one case each: a single row, a constant, gaps, nothing finite, a range as wide
    /// as Double, infinities (another writer's spelling), and tiny values at large steps.
    static let awkward: [(String, String)] = {
        func lines(_ rows: [String]) -> String { rows.joined(separator: "\n") }
        let constant = (1...5).map { step in #"{"step":\#(step),"loss":0.25,"grad_norm":0}"# }
        let tiny = (1...3).map { i in #"{"step":\#(i * 1_000_000),"learning_rate":\#(Double(i) * 1e-9)}"# }
        return [
            ("single point", #"{"step":7,"loss":0.5,"eval_loss":0.6}"#),
            ("constant", lines(constant)),
            (
                "gaps",
                lines([
                    #"{"step":1,"loss":null}"#, #"{"step":2,"loss":0.4}"#, #"{"step":3,"loss":null}"#, #"{"step":4,"loss":0.3}"#,
                    #"{"step":5,"loss":0.2}"#,
                ])
            ),
            ("all null", lines([#"{"step":1,"loss":null}"#, #"{"step":2,"loss":null}"#])),
            ("huge range", lines([#"{"step":1,"loss":-1.7e308,"grad_norm":1e-300}"#, #"{"step":2,"loss":1.7e308,"grad_norm":1e300}"#])),
            ("infinities", lines([#"{"step":1,"loss":Infinity}"#, #"{"step":2,"loss":1}"#, #"{"step":3,"loss":-Infinity}"#])),
            ("tiny values", lines(tiny)),
        ]
    }()

    @Test(arguments: awkward)
    func awkwardDataStaysValid(_ name: String, _ text: String) throws {
        let m = RunMetrics(text: text)
        let doc = try parse(RunCurves.plot(m, run: name).svg())
        for spec in RunCurves.core { #expect(doc.panelIDs.contains("panel-" + spec.id), "\(name): \(spec.id)") }
        try checkCoordinates(doc)
    }

    /// 200,000 logged steps: the lines are thinned to a few points per pixel column, spikes kept.
    @Test func longRunsStaySmall() throws {
        var text = ""
        for step in 1...200_000 {
            let spike = step == 123_457 ? 50.0 : 0
            text += #"{"step":\#(step),"loss":\#(0.7 - Double(step) * 1e-6 + spike)}"# + "\n"
        }
        let svg = RunCurves.plot(RunMetrics(text: text), run: "long").svg()
        #expect(svg.utf8.count < 200_000)
        let doc = try parse(svg)
        let path = try #require(doc.paths["panel-loss"]?.first)
        let ys = path.split { "ML ,".contains($0) }.compactMap { Double($0) }.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        // The spike (the top of the axis) survives thinning.
        #expect(ys.min().map { $0 < 200 } == true, "highest point at y \(ys.min() ?? .nan)")
        try checkCoordinates(doc)
    }

    @Test func aLonePointIsADot() throws {
        let doc = try parse(RunCurves.plot(RunMetrics(text: #"{"step":7,"loss":0.5}"#), run: "r").svg())
        #expect(doc.circles["panel-loss"] == 1)
        #expect(doc.paths["panel-loss"] == nil)
    }

    @Test func spikyPositiveSeriesUseALogAxis() {
        let y = YAxis(values: [0.01, 0.5, 3, 2e5])
        #expect(y.isLog)
        #expect(y.ticks.first?.label == "0.01")
        #expect(y.ticks.map(\.label) == ["0.01", "1", "100", "1e4", "1e6"])
        let linear = YAxis(values: [-0.3, 0.2, 0.7])
        #expect(!linear.isLog)
        #expect(linear.ticks.map(\.label) == ["-0.4", "-0.2", "0", "0.2", "0.4", "0.6", "0.8"])
        #expect(YAxis(values: [0.8, 0.9], fixedRange: 0...1).ticks.map(\.value) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
    }

    @Test func tickLabels() {
        #expect(LinearScale.label(2e-4, step: 5e-5) == "2e-4")
        #expect(LinearScale.label(1.5e-4, step: 5e-5) == "1.5e-4")
        #expect(LinearScale.label(1e-4, step: 1e-4) == "1e-4")
        #expect(LinearScale.label(250000, step: 50000) == "2.5e5")
        #expect(LinearScale.label(12, step: 2) == "12")
        #expect(LinearScale.label(0.25, step: 0.05) == "0.25")
        let x = XAxis(points: [MetricPoint(step: 2, value: 0), MetricPoint(step: 20, value: 0)])
        #expect(x.ticks.map(\.label) == ["5", "10", "15", "20"])
        #expect(XAxis(points: [MetricPoint(step: 7, value: 0)]).ticks.map(\.label) == ["6", "7", "8"])
    }
}

// MARK: - Parsing the document with Foundation's XMLParser

final class SVGDocument: NSObject, XMLParserDelegate {
    var panelIDs: [String] = []
    var texts: [String] = []
    var paths: [String: [String]] = [:]
    var dashedPaths: [String: Int] = [:]
    var circles: [String: Int] = [:]
    var numericAttributes: [(element: String, name: String, value: String)] = []
    var pathData: [String] = []
    var rootName: String?
    private var panel: String?
    private var text: String?

    func parser(_ p: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
        if rootName == nil { rootName = name }
        if name == "g", let id = attributes["id"], id.hasPrefix("panel-") {
            panelIDs.append(id)
            panel = id
        }
        if name == "text" { text = "" }
        if name == "path", let d = attributes["d"] {
            pathData.append(d)
            if let panel {
                paths[panel, default: []].append(d)
                if attributes["stroke-dasharray"] != nil { dashedPaths[panel, default: 0] += 1 }
            }
        }
        if name == "circle", let panel { circles[panel, default: 0] += 1 }
        for key in ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"] {
            if let v = attributes[key] { numericAttributes.append((name, key, v)) }
        }
    }

    func parser(_ p: XMLParser, foundCharacters s: String) { text? += s }

    func parser(_ p: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "g" { panel = nil }
        if name == "text", let t = text {
            texts.append(t)
            text = nil
        }
    }
}

func parse(_ svg: String) throws -> SVGDocument {
    let parser = XMLParser(data: Data(svg.utf8))
    let doc = SVGDocument()
    parser.delegate = doc
    let ok = parser.parse()
    #expect(ok, "XML error: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
    try #require(ok)
    #expect(doc.rootName == "svg")
    return doc
}

/// Every coordinate a finite number; no "nan" or "inf" anywhere in a path.
func checkCoordinates(_ doc: SVGDocument) throws {
    for (element, name, value) in doc.numericAttributes {
        let v = Double(value)
        #expect(v != nil && v!.isFinite, "\(element) \(name)=\(value)")
    }
    for d in doc.pathData {
        let numbers = d.split { "ML ,".contains($0) }
        #expect(!numbers.isEmpty)
        for n in numbers {
            let v = Double(n)
            #expect(v != nil && v!.isFinite, "path number \(n)")
        }
    }
}
