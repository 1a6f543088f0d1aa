// `leandpo plot`: a training run's curves (its metrics.jsonl) as one self-contained SVG, a PNG of it when
// rsvg-convert is installed, and on request the same numbers as a TensorBoard event file.

import ArgumentParser
import Foundation
import Reports
import TensorFile
import Training

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a training run's curves (loss, rewards, log-probs, grad norm, learning rate; train and eval) as an SVG.")

    @Argument(help: ArgumentHelp("A training output directory, or a metrics.jsonl file.", valueName: "RUN_DIR")) var runDirectory: String
    @Option(name: [.short, .customLong("output")], help: "The SVG to write (default: curves.svg in the run directory).") var output: String?
    @Flag(help: "Also write a PNG beside the SVG, with rsvg-convert (Debian/Ubuntu package librsvg2-bin).") var png = false
    @Flag(help: "Also write metrics.jsonl as a TensorBoard event file in the run directory (for runs logged without TensorBoard).")
    var tensorboard = false

    func run() throws {
        try reportingErrors {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: runDirectory, isDirectory: &isDirectory) else {
                throw ArgumentError("\(runDirectory): no such run directory or metrics file")
            }
            let directory = isDirectory.boolValue ? runDirectory : (runDirectory as NSString).deletingLastPathComponent
            let metricsPath = isDirectory.boolValue ? runDirectory + "/metrics.jsonl" : runDirectory
            let metrics = try RunMetrics.read(path: metricsPath)
            if tensorboard { try Self.refuseExistingEvents(in: directory.isEmpty ? "." : directory) }
            for message in metrics.skipped { printErr("warning: skipped \(message)") }

            let svgPath = output ?? (directory.isEmpty ? "." : directory) + "/curves.svg"
            let plot = RunCurves.plot(metrics, run: Self.displayName(isDirectory.boolValue ? runDirectory : metricsPath))
            let writer = try AtomicFileWriter(path: svgPath)
            try writer.write(Array(plot.svg().utf8))
            try writer.commit()
            print("wrote \(svgPath) (\(plot.panels.count) panels, \(metrics.rows.count) rows)")

            if tensorboard { try writeEvents(metrics, directory: directory.isEmpty ? "." : directory) }
            if png { try convertToPNG(svgPath) }
        }
    }

    /// Replays every row into a new event file; refuses a directory that already has one, since TensorBoard
    /// would show each value twice.
    func writeEvents(_ metrics: RunMetrics, directory: String) throws {
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasPrefix("events.out.tfevents.") } ?? []
        guard existing.isEmpty else {
            throw ArgumentError(
                "\(directory) already holds TensorBoard event files (\(existing.sorted().joined(separator: ", "))); remove them first")
        }
        let log = try TensorBoardLog(directory: directory)
        for row in metrics.rows { try log.write(row) }
        log.close()
        print("wrote \(log.path) (\(metrics.rows.count) events)")
    }

    static func refuseExistingEvents(in directory: String) throws {
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasPrefix("events.out.tfevents.") } ?? []
        guard existing.isEmpty else {
            throw ArgumentError(
                "\(directory) already holds TensorBoard event files (\(existing.sorted().joined(separator: ", "))); remove them first")
        }
    }

    func convertToPNG(_ svgPath: String) throws {
        let pngPath = (svgPath.hasSuffix(".svg") ? String(svgPath.dropLast(4)) : svgPath) + ".png"
        guard let tool = Self.findExecutable("rsvg-convert") else {
            throw ArgumentError(
                "--png needs rsvg-convert, which is not installed: apt-get install librsvg2-bin (Debian/Ubuntu); \(svgPath) is written and needs nothing"
            )
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--format=png", "--output=\(pngPath)", svgPath]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ArgumentError("rsvg-convert failed (exit \(process.terminationStatus)) converting \(svgPath) to \(pngPath)")
        }
        print("wrote \(pngPath)")
    }

    /// The path as typed, unless it says nothing on its own ("." or ".."): then the absolute path.
    static func displayName(_ path: String) -> String {
        let last = (path as NSString).lastPathComponent
        guard last == "." || last == ".." || path.isEmpty else { return path }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    static func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
