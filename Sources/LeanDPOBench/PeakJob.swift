// The sgemm ceiling alone, as its own result line: handy for comparing OpenBLAS kernel sets on the same
// machine (OPENBLAS_CORETYPE=SkylakeX, Cooperlake, Zen, …) without running a whole job.

import ArgumentParser
import Kernels

struct PeakJob: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "peak", abstract: "Measure OpenBLAS sgemm GFLOPS on the model's shapes.")

    @Option(help: "Threads for OpenBLAS.") var threads = 2
    @Option(help: "Rounds (best of).") var rounds = 5
    @Option(help: "The git commit measured.") var commit = "unknown"

    func run() throws {
        let loadStart = LoadAverage.read()
        let peak = SgemmPeak.measure(threads: threads, rounds: rounds)
        var line = JSONLine()
        line.add([
            ("job", .string("peak")), ("threads", .int(threads)),
            ("sgemm_peak_gflops", .number(peak.best, digits: 2)),
            ("sgemm_peak_gflop_per_cpu_s", .number(peak.bestPerCPUSecond, digits: 2)),
            ("sgemm_peak_by_shape", .object(peak.perShape.map { ($0.0.description, .number($0.1, digits: 2)) })),
            ("load_avg_start", loadStart.map { .numbers($0, digits: 2) } ?? .null),
            ("load_avg_end", LoadAverage.read().map { .numbers($0, digits: 2) } ?? .null),
            ("commit", .string(commit)), ("machine", .object(Machine.describe().fields)),
        ])
        line.print()
    }
}
