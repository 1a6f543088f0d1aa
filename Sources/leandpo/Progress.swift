// Progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise (logs, CI, pipes).

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

final class ProgressLine {
    let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastWidth = 0
    private var lastPlain = Date.distantPast

    /// Redraws the bar (terminal) or prints a line at most every few seconds (`force` prints anyway).
    func update(_ text: String, force: Bool = false) {
        if isTerminal {
            let pad = max(0, lastWidth - text.count)
            FileHandle.standardError.write(Data(("\r" + text + String(repeating: " ", count: pad)).utf8))
            lastWidth = text.count
        } else if force || Date().timeIntervalSince(lastPlain) >= 5 {
            FileHandle.standardError.write(Data((text + "\n").utf8))
            lastPlain = Date()
        }
    }

    /// Ends the bar's line so the next output starts on a fresh one.
    func finish() {
        if isTerminal && lastWidth > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        lastWidth = 0
    }

    func message(_ text: String) {
        finish()
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func bar(_ fraction: Double, width: Int = 24) -> String {
        let f = max(0, min(1, fraction))
        let full = Int(f * Double(width))
        return "[" + String(repeating: "#", count: full) + String(repeating: ".", count: width - full) + "]"
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, t % 3600 / 60) : String(format: "%dm%02ds", t / 60, t % 60)
    }
}

/// Peak resident memory of this process (VmHWM), in bytes.
func peakResidentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kb * 1024
    }
    return 0
}
