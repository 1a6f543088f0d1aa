// A small-multiples line chart written as one self-contained SVG document (no fonts, scripts or style
// sheets from outside): panels in a grid sharing the x axis, each with ticks, labels and a legend.

import Foundation

/// What to draw; `svg()` lays it out. Values may be NaN (a gap in the line) and any finite size.
public struct SVGPlot: Sendable {
    public struct Series: Sendable {
        public var label: String
        public var color: String
        /// Evaluation style: dashed line with open circles at every point.
        public var isEval: Bool
        public var points: [MetricPoint]

        public init(label: String, color: String, isEval: Bool, points: [MetricPoint]) {
            self.label = label
            self.color = color
            self.isEval = isEval
            self.points = points
        }
    }

    public struct Panel: Sendable {
        /// Stable identifier, the SVG group's id (`panel-<id>`).
        public var id: String
        public var title: String
        public var series: [Series]
        /// A y range the axis always shows (reward accuracy: 0 to 1), widened if the data leaves it.
        public var fixedRange: ClosedRange<Double>?
        /// Shown in place of curves when no series has a finite value.
        public var emptyNote: String

        public init(id: String, title: String, series: [Series], fixedRange: ClosedRange<Double>? = nil, emptyNote: String = "no values") {
            self.id = id
            self.title = title
            self.series = series
            self.fixedRange = fixedRange
            self.emptyNote = emptyNote
        }
    }

    public var title: String
    public var subtitle: String
    public var panels: [Panel]
    public var xLabel = "step"
    public var columns = 3

    public init(title: String, subtitle: String, panels: [Panel]) {
        self.title = title
        self.subtitle = subtitle
        self.panels = panels
    }

    // MARK: - Layout constants (SVG user units = CSS pixels)

    static let panelWidth = 440.0
    static let panelHeight = 270.0
    static let gap = 14.0
    static let margin = 16.0
    static let headerHeight = 78.0
    static let fontFamily = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
    /// Average advance of one character of the 11-unit legend font, for laying out legends without a font.
    static let legendCharWidth = 6.6

    public var width: Double { 2 * Self.margin + Double(columns) * Self.panelWidth + Double(columns - 1) * Self.gap }
    public var height: Double {
        let rows = max(1, (panels.count + columns - 1) / columns)
        return Self.headerHeight + Double(rows) * Self.panelHeight + Double(rows - 1) * Self.gap + Self.margin
    }

    // MARK: - Document

    public func svg() -> String {
        var out = SVGText()
        let w = Self.coordinate(width)
        let h = Self.coordinate(height)
        out.line(##"<?xml version="1.0" encoding="UTF-8"?>"##)
        out.line(
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(w)" height="\##(h)" viewBox="0 0 \##(w) \##(h)" font-family="\##(Self.fontFamily)">"##
        )
        out.line("<title>\(SVGText.escape(title))</title>")
        out.line(##"<rect x="0" y="0" width="\##(w)" height="\##(h)" fill="#ffffff"/>"##)
        out.text(title, x: Self.margin, y: 30, size: 18, weight: "bold")
        out.text(subtitle, x: Self.margin, y: 52, size: 12, color: "#444444")
        styleKey(into: &out)
        let x = XAxis(points: panels.flatMap { $0.series.flatMap(\.points) })
        for (i, panel) in panels.enumerated() {
            let column = Double(i % columns)
            let row = Double(i / columns)
            let left = Self.margin + column * (Self.panelWidth + Self.gap)
            let top = Self.headerHeight + row * (Self.panelHeight + Self.gap)
            draw(panel, left: left, top: top, x: x, into: &out)
        }
        out.line("</svg>")
        return out.text
    }

    /// The line styles, explained once for every panel: solid is training, dashed with circles evaluation.
    private func styleKey(into out: inout SVGText) {
        let y = 68.0
        var x = Self.margin
        let (x0, x1, ym) = (Self.coordinate(x), Self.coordinate(x + 22), Self.coordinate(y - 4))
        out.line(##"<line x1="\##(x0)" y1="\##(ym)" x2="\##(x1)" y2="\##(ym)" stroke="#555555" stroke-width="2"/>"##)
        out.text("training (logged steps)", x: x + 28, y: y, size: 11, color: "#444444")
        x += 28 + 24 * Self.legendCharWidth
        let (e0, e1, em) = (Self.coordinate(x), Self.coordinate(x + 22), Self.coordinate(x + 11))
        out.line(##"<line x1="\##(e0)" y1="\##(ym)" x2="\##(e1)" y2="\##(ym)" stroke="#555555" stroke-width="2" stroke-dasharray="5 3"/>"##)
        out.line(##"<circle cx="\##(em)" cy="\##(ym)" r="3" fill="#ffffff" stroke="#555555" stroke-width="1.5"/>"##)
        out.text("evaluation (held-out data)", x: x + 28, y: y, size: 11, color: "#444444")
    }

    // MARK: - One panel

    private func draw(_ panel: Panel, left: Double, top: Double, x: XAxis, into out: inout SVGText) {
        out.line(##"<g id="panel-\##(SVGText.escape(panel.id))" class="panel">"##)
        out.line(
            ##"<rect x="\##(Self.coordinate(left))" y="\##(Self.coordinate(top))" width="\##(Self.panelWidth)" height="\##(Self.panelHeight)" fill="#fbfbfb" stroke="#d0d0d0"/>"##
        )
        let plotLeft = left + 62
        let plotRight = left + Self.panelWidth - 14
        out.text(panel.title, x: left + 10, y: top + 18, size: 13, weight: "bold")

        // Legend rows under the title; entries wrap to the panel width.
        let drawn = panel.series.filter { !$0.points.isEmpty }
        var legendX = left + 10
        var legendY = top + 34
        for s in drawn {
            let entryWidth = 30 + Double(s.label.count) * Self.legendCharWidth + 12
            if legendX + entryWidth > left + Self.panelWidth - 6, legendX > left + 10 {
                legendX = left + 10
                legendY += 14
            }
            swatch(s, x: legendX, y: legendY - 4, into: &out)
            out.text(s.label, x: legendX + 28, y: legendY, size: 11, color: "#333333")
            legendX += entryWidth
        }
        let plotTop = (drawn.isEmpty ? top + 24 : legendY) + 12
        let plotBottom = top + Self.panelHeight - 34
        let box = PlotBox(left: plotLeft, right: plotRight, top: plotTop, bottom: plotBottom)

        let values = drawn.flatMap { $0.points.map(\.value) }.filter(\.isFinite)
        guard !values.isEmpty else {
            out.text(panel.emptyNote, x: (box.left + box.right) / 2, y: (box.top + box.bottom) / 2, size: 12, color: "#888888", anchor: "middle")
            out.line("</g>")
            return
        }
        let y = YAxis(values: values, fixedRange: panel.fixedRange)
        axes(box: box, x: x, y: y, into: &out)
        for s in drawn { curve(s, box: box, x: x, y: y, into: &out) }
        out.line("</g>")
    }

    private func swatch(_ s: Series, x: Double, y: Double, into out: inout SVGText) {
        let dash = s.isEval ? ##" stroke-dasharray="5 3""## : ""
        out.line(
            ##"<line x1="\##(Self.coordinate(x))" y1="\##(Self.coordinate(y))" x2="\##(Self.coordinate(x + 22))" y2="\##(Self.coordinate(y))" stroke="\##(s.color)" stroke-width="2"\##(dash)/>"##
        )
        if s.isEval {
            out.line(
                ##"<circle cx="\##(Self.coordinate(x + 11))" cy="\##(Self.coordinate(y))" r="3" fill="#ffffff" stroke="\##(s.color)" stroke-width="1.5"/>"##
            )
        }
    }

    private func axes(box: PlotBox, x: XAxis, y: YAxis, into out: inout SVGText) {
        out.line(
            ##"<rect x="\##(Self.coordinate(box.left))" y="\##(Self.coordinate(box.top))" width="\##(Self.coordinate(box.right - box.left))" height="\##(Self.coordinate(box.bottom - box.top))" fill="#ffffff" stroke="#999999"/>"##
        )
        for tick in y.ticks {
            let py = box.y(y.fraction(tick.value))
            out.line(
                ##"<line x1="\##(Self.coordinate(box.left))" y1="\##(Self.coordinate(py))" x2="\##(Self.coordinate(box.right))" y2="\##(Self.coordinate(py))" stroke="#e6e6e6"/>"##
            )
            out.text(tick.label, x: box.left - 6, y: py + 4, size: 10, color: "#333333", anchor: "end")
        }
        for tick in x.ticks {
            let px = box.x(x.fraction(tick.value))
            out.line(
                ##"<line x1="\##(Self.coordinate(px))" y1="\##(Self.coordinate(box.bottom))" x2="\##(Self.coordinate(px))" y2="\##(Self.coordinate(box.bottom + 4))" stroke="#999999"/>"##
            )
            out.text(tick.label, x: px, y: box.bottom + 16, size: 10, color: "#333333", anchor: "middle")
        }
        out.text(xLabel, x: box.right, y: box.bottom + 29, size: 10, color: "#666666", anchor: "end")
        if y.isLog { out.text("log scale", x: box.left + 4, y: box.top - 3, size: 9, color: "#666666") }
    }

    /// The line, broken where a value is missing; a point with no neighbour is drawn as a dot.
    private func curve(_ s: Series, box: PlotBox, x: XAxis, y: YAxis, into out: inout SVGText) {
        var segments: [[(Double, Double)]] = [[]]
        for p in s.points {
            if p.value.isFinite, p.step.isFinite {
                segments[segments.count - 1].append((box.x(x.fraction(p.step)), box.y(y.fraction(value: p.value))))
            } else if !segments[segments.count - 1].isEmpty {
                segments.append([])
            }
        }
        var path = ""
        for segment in segments where segment.count > 1 {
            for (i, (px, py)) in Self.thinned(segment).enumerated() {
                path += (i == 0 ? "M" : " L") + Self.coordinate(px) + "," + Self.coordinate(py)
            }
            path += " "
        }
        let label = SVGText.escape(s.label)
        if !path.isEmpty {
            let dash = s.isEval ? ##" stroke-dasharray="5 3""## : ""
            out.line(
                ##"<path d="\##(path.trimmingCharacters(in: .whitespaces))" fill="none" stroke="\##(s.color)" stroke-width="\##(s.isEval ? 1.6 : 1.8)" stroke-linejoin="round"\##(dash)><title>\##(label)</title></path>"##
            )
        }
        for segment in segments {
            let lone = segment.count == 1
            guard s.isEval || lone else { continue }
            for (px, py) in segment {
                let fill = s.isEval ? "#ffffff" : s.color
                out.line(
                    ##"<circle cx="\##(Self.coordinate(px))" cy="\##(Self.coordinate(py))" r="3" fill="\##(fill)" stroke="\##(s.color)" stroke-width="1.5"/>"##
                )
            }
        }
    }

    /// A line with more points than pixel columns keeps, per column, its first, lowest, highest and last
    /// point in order: it draws the same picture (spikes included) in a file of bounded size.
    static func thinned(_ points: [(Double, Double)]) -> [(Double, Double)] {
        guard points.count > 2000 else { return points }
        var out: [(Double, Double)] = []
        var i = 0
        while i < points.count {
            let column = points[i].0.rounded(.down)
            var (j, lowest, highest) = (i, i, i)
            while j < points.count, points[j].0.rounded(.down) == column {
                if points[j].1 < points[lowest].1 { lowest = j }
                if points[j].1 > points[highest].1 { highest = j }
                j += 1
            }
            for k in Set([i, lowest, highest, j - 1]).sorted() { out.append(points[k]) }
            i = j
        }
        return out
    }

    /// A coordinate with two decimals at most; a value that is not finite (never expected) becomes 0
    /// so the document stays valid.
    static func coordinate(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }
}

// MARK: - Geometry

private struct PlotBox {
    var left, right, top, bottom: Double
    func x(_ f: Double) -> Double { left + min(1, max(0, f)) * (right - left) }
    func y(_ f: Double) -> Double { bottom - min(1, max(0, f)) * (bottom - top) }
}

public struct Tick: Equatable, Sendable {
    public var value: Double
    public var label: String
}

/// The shared step axis: integer ticks over the range of every point; one step alone gets room either side.
public struct XAxis: Sendable {
    public let lo: Double
    public let hi: Double
    public let ticks: [Tick]

    public init(points: [MetricPoint]) {
        let steps = points.map(\.step).filter(\.isFinite)
        var lo = steps.min() ?? 0
        var hi = steps.max() ?? 1
        if hi - lo < 1 {
            lo -= 1
            hi += 1
        }
        let scale = LinearScale(lo: lo, hi: hi, minimumStep: 1)
        self.lo = lo
        self.hi = hi
        // The axis spans the data exactly (panels share it), so only the round steps inside it are marked.
        ticks = scale.ticks.filter { $0 >= lo && $0 <= hi }.map { Tick(value: $0, label: LinearScale.label($0, step: scale.step)) }
    }

    func fraction(_ v: Double) -> Double { (v / 2 - lo / 2) / (hi / 2 - lo / 2) }
}

/// A value axis: linear over nice round bounds, or logarithmic (decades) when every value is positive and
/// they span more than three decades, so a spike does not flatten the rest of the curve.
public struct YAxis: Sendable {
    public let isLog: Bool
    public let lo: Double
    public let hi: Double
    public let ticks: [Tick]

    public init(values: [Double], fixedRange: ClosedRange<Double>? = nil) {
        var lo = values.min() ?? 0
        var hi = values.max() ?? 1
        if let r = fixedRange {
            lo = min(lo, r.lowerBound)
            hi = max(hi, r.upperBound)
        }
        if lo > 0, hi / lo >= 1e3, fixedRange == nil {
            isLog = true
            let a = log10(lo).rounded(.down)
            let b = max(log10(hi).rounded(.up), a + 1)
            self.lo = a
            self.hi = b
            let every = max(1, ((b - a) / 6).rounded(.up))
            ticks = stride(from: a, through: b, by: every).map { Tick(value: $0, label: YAxis.decade(Int($0))) }
            return
        }
        isLog = false
        if hi == lo {
            // A constant: centre it with a little room (1 either side of zero).
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad
            hi += pad
        }
        let scale = LinearScale(lo: lo, hi: hi, minimumStep: 0)
        self.lo = scale.lo
        self.hi = scale.hi
        ticks = scale.ticks.map { Tick(value: $0, label: LinearScale.label($0, step: scale.step)) }
    }

    /// Where `v` (a tick's value for log axes: its exponent; otherwise the value) falls, 0 at the bottom.
    func fraction(_ v: Double) -> Double { (v / 2 - lo / 2) / (hi / 2 - lo / 2) }

    /// The fraction of a data value.
    func fraction(value v: Double) -> Double { isLog ? fraction(log10(v)) : fraction(v) }

    static func decade(_ e: Int) -> String {
        switch e {
        case 0: "1"
        case 1: "10"
        case 2: "100"
        case 3: "1000"
        case -1: "0.1"
        case -2: "0.01"
        default: "1e\(e)"
        }
    }
}

/// Round tick positions covering [lo, hi] ("nice numbers", Heckbert 1990), computed on halves so that a
/// range as wide as the Double type itself does not overflow.
public struct LinearScale: Sendable {
    public let lo: Double
    public let hi: Double
    public let step: Double
    public let ticks: [Double]

    public init(lo: Double, hi: Double, minimumStep: Double, target: Int = 5) {
        let halfSpan = hi / 2 - lo / 2
        var step = Self.nice(halfSpan / Double(target) * 2)
        if step < minimumStep { step = minimumStep }
        if !(step.isFinite && step > 0) { step = Double.greatestFiniteMagnitude / 16 }
        var first = (lo / step).rounded(.down) * step
        var last = (hi / step).rounded(.up) * step
        if !first.isFinite { first = lo }
        if !last.isFinite { last = hi }
        self.step = step
        self.lo = first
        self.hi = last
        var ticks: [Double] = []
        var k = 0.0
        while ticks.count < 12 {
            // k·step alone can overflow on a range as wide as Double; the running sum cannot.
            var t = first + k * step
            if !t.isFinite, let previous = ticks.last { t = previous + step }
            if !t.isFinite || t > last + step / 2 { break }
            ticks.append(abs(t) < step * 1e-9 ? 0 : t)
            k += 1
        }
        self.ticks = ticks
    }

    static func nice(_ x: Double) -> Double {
        guard x.isFinite, x > 0 else { return x }
        let e = log10(x).rounded(.down)
        let f = x / pow(10, e)
        let n: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        return n * pow(10, e)
    }

    /// A tick label with the fewest digits that pin the value to a tenth of a step (so neighbours differ);
    /// exponent form for very large or small values.
    public static func label(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        let magnitude = abs(v)
        let exponentForm = magnitude >= 1e5 || magnitude < 1e-3
        var text = ""
        for digits in 0...8 {
            text = exponentForm ? String(format: "%.\(digits)e", v) : String(format: "%.\(digits)f", v)
            if let back = Double(text), abs(back - v) <= step * 0.05 { break }
        }
        return exponentForm ? tidyExponent(text) : text
    }

    /// 2.0e-04 → 2e-4: shorter labels in the narrow margin.
    static func tidyExponent(_ s: String) -> String {
        guard let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return s }
        var mantissa = String(s[..<e])
        if mantissa.contains(".") {
            while mantissa.hasSuffix("0") { mantissa.removeLast() }
            if mantissa.hasSuffix(".") { mantissa.removeLast() }
        }
        let exponent = Int(s[s.index(after: e)...]) ?? 0
        return mantissa + "e" + String(exponent)
    }
}

// MARK: - Text

struct SVGText {
    private(set) var text = ""

    mutating func line(_ s: String) {
        text += s
        text += "\n"
    }

    mutating func text(
        _ s: String, x: Double, y: Double, size: Double, color: String = "#111111", weight: String? = nil, anchor: String = "start"
    ) {
        let w = weight.map { ##" font-weight="\##($0)""## } ?? ""
        line(
            ##"<text x="\##(SVGPlot.coordinate(x))" y="\##(SVGPlot.coordinate(y))" font-size="\##(SVGPlot.coordinate(size))" fill="\##(color)" text-anchor="\##(anchor)"\##(w)>\##(Self.escape(s))</text>"##
        )
    }

    /// Text safe inside an element or a double-quoted attribute; control characters (invalid in XML 1.0)
    /// are dropped.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out += " "
            default: if c.value >= 0x20 { out.unicodeScalars.append(c) }
            }
        }
        return out
    }
}
