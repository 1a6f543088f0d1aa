// Dequantization of every supported GGML type against what gguf-py produces from the same blocks
// (Fixtures/gguf_dequant.json, made by tools/reference/gen_gguf_fixtures.py). Exact: both sides do the
// same f32 operations in the same order.

import Foundation
import ModelFiles
import TensorFile
import Testing

struct DequantCase: Sendable, CustomStringConvertible {
    let type: String
    let id: UInt32
    let count: Int
    let raw: [UInt8]
    let expected: [UInt32]
    var description: String { type }

    static func load() throws -> [DequantCase] {
        let root = try Fixture.json("gguf_dequant.json") as! [String: Any]
        return (root["types"] as! [[String: Any]]).map { e in
            let hex = Array((e["raw_hex"] as! String).utf8)
            let raw = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<($0 + 2)], as: UTF8.self), radix: 16)! }
            return DequantCase(
                type: e["type"] as! String, id: UInt32(e["id"] as! Int), count: e["count"] as! Int, raw: raw,
                expected: (e["expected_bits"] as! [NSNumber]).map { $0.uint32Value })
        }
    }
}

let dequantCases = (try? DequantCase.load()) ?? []

@Test func fixtureCoversEveryDequantizableType() {
    #expect(Set(dequantCases.map(\.id)) == Set(GGMLType.dequantizable.map(\.rawValue)))
}

@Test(arguments: dequantCases)
func dequantizeMatchesGGUFPy(_ c: DequantCase) throws {
    let type = try #require(GGMLType(rawValue: c.id))
    #expect(type.description == c.type)
    #expect(c.raw.count == c.count / type.blockSize * type.blockBytes)
    // Also from an odd address: GGUF data may sit at any alignment and must be read without assuming it.
    for shift in [0, 1] {
        let src = [UInt8](repeating: 0, count: shift) + c.raw
        var out = [Float](repeating: .nan, count: c.count)
        src.withUnsafeBytes { s in
            out.withUnsafeMutableBufferPointer { type.dequantize(s.baseAddress! + shift, into: $0.baseAddress!, count: c.count) }
        }
        let mismatches = (0..<c.count).filter { out[$0].bitPattern != c.expected[$0] }
        #expect(
            mismatches.isEmpty,
            "\(c.type): \(mismatches.count) of \(c.count) differ, first at \(mismatches.first ?? -1): \(mismatches.first.map { "\(out[$0]) vs \(Float(bitPattern: c.expected[$0]))" } ?? "")"
        )
    }
}

@Test func blockSizesMatchGGML() {
    let table: [(GGMLType, Int, Int)] = [
        (.f32, 1, 4), (.f16, 1, 2), (.bf16, 1, 2), (.q4_0, 32, 18), (.q4_1, 32, 20), (.q5_0, 32, 22), (.q5_1, 32, 24),
        (.q8_0, 32, 34), (.q8_1, 32, 36), (.q2_K, 256, 84), (.q3_K, 256, 110), (.q4_K, 256, 144), (.q5_K, 256, 176),
        (.q6_K, 256, 210), (.q8_K, 256, 292),
    ]
    for (t, block, bytes) in table {
        #expect(t.blockSize == block && t.blockBytes == bytes, "\(t)")
    }
    // The types shared with MTF decode with the same layout.
    for (g, d) in [(GGMLType.q8_0, DType.q8_0), (.q4_0, .q4_0), (.q4_1, .q4_1), (.f32, .f32), (.f16, .f16), (.bf16, .bf16)] {
        #expect(g.blockSize == d.blockSize && g.blockBytes == d.blockBytes)
    }
}
