// `computeDType = .bf16` (the frozen-weight products through oneDNN) against the same model in f32, on
// tiny random models: f32 and bf16 storage, Qwen2 biases and Qwen3 q/k norms, a multi-block shape with
// grouped heads. Tolerances: token log-probs within 0.1 (values near −ln 37 ≈ −3.6; each product moves
// by ~2⁻⁸ relative, compounded over 2 layers and into the logits of random weights: measured 0.029–0.047),
// LoRA gradients within 5 % in norm (‖g_bf16 − g_f32‖ ≤ 0.05‖g_f32‖). The fallback (CPU feature missing, simulated) is f32 bit for bit.

import Foundation
import Kernels
import Model
import TensorFile
import TestSupport
import Testing

extension ModelTests {
    @Suite struct BF16Compute {
        static let available: Bool = {
            if case .available = BF16Matmul.support() { return true }
            return false
        }()
        static let sequences = randomSequences(seed: 5, lengths: [13, 6, 19])
        static let ranges = [2..<13, 1..<6, 4..<19]

        static func run(_ model: LlamaModel, _ adapter: LoRAAdapter) throws -> (logps: [Float], grads: [Float]) {
            let batch = PackedBatch(sequences: sequences)
            let s = try model.sequenceLogProbs(batch: batch, completionRanges: ranges, adapter: adapter)
            adapter.zeroGradients()
            let w = (0..<s.tokenLogProbs.count).map { Float($0 % 3) - 1 }
            try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter) { _ in w }
            return (s.tokenLogProbs, Array(adapter.gradients))
        }

        static func norm(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

        @Test(.enabled(if: available, "this CPU has no AVX-512 BF16/AMX"), arguments: ["llama", "llama-bf16", "qwen2", "qwen3"])
        func bf16IsCloseToF32(name: String) throws {
            var spec: TinySpec =
                switch name {
                case "qwen2": .qwen2
                case "qwen3": .qwen3
                default: .llama
                }
            if name == "llama-bf16" {
                spec.dtype = .bf16
                spec.name = name
            }
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model)
            let f32 = try Self.run(model, adapter)
            #expect(model.setComputeDType(.bf16) == nil)
            #expect(model.computeDType == .bf16)
            let bf16 = try Self.run(model, adapter)
            let d = maxAbsDiff(bf16.logps, f32.logps)
            #expect(d <= 0.1, "\(name): log-probs differ by \(d)")
            #expect(d > 0, "\(name): bf16 products ran, so something differs")
            let diff = zip(bf16.grads, f32.grads).map { $0 - $1 }
            #expect(Self.norm(diff) <= 0.05 * Self.norm(f32.grads), "\(name): gradient off by \(Self.norm(diff) / Self.norm(f32.grads))")
            model.setComputeDType(.f32)
            let back = try Self.run(model, adapter)
            #expect(back.logps == f32.logps && back.grads == f32.grads, "\(name): f32 again is the f32 result bit for bit")
        }

        @Test func missingFeatureFallsBackToF32WithANote() throws {
            let (model, _) = try makeTinyModel(.llama)
            let adapter = try makeAdapter(model)
            let f32 = try Self.run(model, adapter)
            let note = model.setComputeDType(.bf16, environment: [BF16Matmul.simulateMissingVariable: "1"])
            #expect(note?.hasPrefix("note: --compute-dtype bf16 falls back to f32") == true, "\(note ?? "no note")")
            #expect(model.computeDType == .f32)
            let again = try Self.run(model, adapter)
            #expect(again.logps == f32.logps && again.grads == f32.grads)
        }
    }
}
