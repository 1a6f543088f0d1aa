// A one-line description of the machine a figure was measured on: CPU model, cores, memory, and the
// OpenBLAS kernel set (the same CPU can run different kernels, which changes every sgemm figure).

import Foundation
import JSON
import Kernels

struct Machine {
    var cpu: String
    var cores: Int
    var memoryGB: Double
    var openblasCore: String
    var openblasConfig: String

    static func describe() -> Machine {
        var cpu = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Machine(
            cpu: cpu, cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryGB: Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824,
            openblasCore: BLAS.coreName, openblasConfig: BLAS.configuration.trimmingCharacters(in: .whitespaces))
    }

    var fields: [(String, JSONText)] {
        [
            ("cpu", .string(cpu)), ("cores", .int(cores)), ("memory_gb", .number(memoryGB, digits: 1)),
            ("openblas_core", .string(openblasCore)), ("openblas_config", .string(openblasConfig)),
        ]
    }
}
