// LoRA configuration, the adapter's flat layout and PEFT's init. PEFT adapter files are AdaptersTests'.

import Foundation
import Model
import TensorFile
import TestSupport
import Testing

extension ModelTests {
    @Suite struct LoRA {
        @Test func configValidatesAndScales() throws {
            #expect(LoRAConfig(r: 8, alpha: 16).scale == 2)
            #expect(LoRAConfig(r: 16, alpha: 32, rslora: true).scale == 8)
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(r: 0).validate() }
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(alpha: -1).validate() }
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(dropout: 1).validate() }
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(targets: []).validate() }
            #expect(try LoRATarget.parseList("v, q,down") == [.q, .v, .down])
            #expect(try LoRATarget.parseList("q_proj,gate_proj") == [.q, .gate])
            #expect(try LoRATarget.parseList("all") == LoRATarget.allCases)
            #expect(throws: LoRAConfigError.self) { try LoRATarget.parseList("q,qq") }
            #expect(throws: LoRAConfigError.self) { try LoRATarget.parseList("q,q") }
            let json = Data(#"{"r": 4, "alpha": 8, "dropout": 0.1, "targets": ["v", "q"]}"#.utf8)
            let c = try JSONDecoder().decode(LoRAConfig.self, from: json)
            #expect(c == LoRAConfig(r: 4, alpha: 8, rslora: false, dropout: 0.1, targets: [.q, .v]))
            #expect(try JSONDecoder().decode(LoRAConfig.self, from: JSONEncoder().encode(c)) == c)
            #expect(throws: DecodingError.self) {
                try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"r": 4, "alpha": 8, "dropout": 1.5, "targets": ["q"]}"#.utf8))
            }
        }

        @Test func adapterLayoutAndPEFTInit() throws {
            let config = TinySpec.qwen3.config  // Q = 32 ≠ D = 16
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 3, alpha: 6, targets: [.q, .o, .down]), modelConfig: config, seed: 9)
            #expect(adapter.entries.count == 2 * 3)
            let q = adapter.entry(layer: 1, target: .q)!, o = adapter.entry(layer: 1, target: .o)!, d = adapter.entry(layer: 0, target: .down)!
            #expect((q.inFeatures, q.outFeatures) == (16, 32))
            #expect((o.inFeatures, o.outFeatures) == (32, 16))
            #expect((d.inFeatures, d.outFeatures) == (24, 16))
            #expect(adapter.entry(layer: 0, target: .k) == nil)
            #expect(q.nameA == "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")
            #expect(d.nameB == "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")
            // The table tiles the flat block exactly.
            var next = 0
            for e in adapter.entries {
                #expect(e.offsetA == next && e.offsetB == next + 3 * e.inFeatures)
                next = e.offsetB + e.outFeatures * 3
            }
            #expect(next == adapter.parameterCount)
            // A ~ U(±1/√in), B = 0; the same seed gives the same numbers.
            for e in adapter.entries {
                let bound = 1 / Float(e.inFeatures).squareRoot()
                let a = UnsafeBufferPointer(start: adapter.a(e), count: 3 * e.inFeatures)
                #expect(a.allSatisfy { abs($0) <= bound } && a.contains { abs($0) > bound / 2 })
                #expect(UnsafeBufferPointer(start: adapter.b(e), count: e.outFeatures * 3).allSatisfy { $0 == 0 })
            }
            let again = try LoRAAdapter(config: adapter.config, modelConfig: config, seed: 9)
            #expect(again.parameterArray() == adapter.parameterArray())
            let other = try LoRAAdapter(config: adapter.config, modelConfig: config, seed: 10)
            #expect(other.parameterArray() != adapter.parameterArray())
        }
    }
}
