// `leandpo-bench make-shape`: a model with a named real architecture's shapes and seeded random weights
// (the ModelShapes target), written straight to MTF in any dtype through the converter.

import ArgumentParser
import Foundation
import ModelShapes
import TensorFile

struct MakeShape: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-shape", abstract: "Write a model of a real architecture's shapes with random weights (MTF).",
        discussion: "Shapes: " + ModelShape.all.map(\.name).joined(separator: ", "))

    @Option(help: "The shape's name.") var shape: String
    @Option(help: "A SmolLM2 MTF file whose tokenizer and chat template are used.") var tokenizerFrom: String
    @Option(help: "Element type: f32, bf16, f16, q8_0, q4_0, q4_1.") var dtype = "bf16"
    @Option(help: "Seed of the weights.") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "The MTF file to write.") var output: String

    func run() throws {
        guard let s = ModelShape.named(shape) else {
            throw ValidationError("unknown shape \(shape); one of " + ModelShape.all.map(\.name).joined(separator: ", "))
        }
        guard let d = DType(rawValue: dtype) else { throw ValidationError("unknown dtype \(dtype)") }
        let base = try MappedTensorFile(path: tokenizerFrom, requireArchitectureTensors: false)
        let t0 = Date()
        let fingerprint = try s.write(to: output, dtype: d, tokenizerFrom: base.metadata, seed: seed) { done, total in
            if done * 10 / total != (done - 1) * 10 / total {
                FileHandle.standardError.write(Data("make-shape \(s.name): \(done)/\(total) tensors\n".utf8))
            }
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print(
            String(
                format: "%@: %.2fB parameters, %@, %.1f GiB, fingerprint %@, %.0f s", s.name, Double(s.parameterCount) / 1e9, dtype,
                Double(size) / 1_073_741_824, fingerprint, Date().timeIntervalSince(t0)))
    }
}
