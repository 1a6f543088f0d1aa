// Helpers of the adapter tests: fixtures, reading safetensors with ModelFiles' reader, writing raw
// adapter files that a tester would craft, and expecting one-line errors.

import Adapters
import Foundation
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func fixturesDirectory() throws -> URL {
    guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else { throw TestFailure("no Fixtures resource") }
    return url
}

/// name → (shape, values) of an F32/F16/BF16 safetensors file.
func readSafetensors(_ path: String) throws -> [String: (shape: [Int], values: [Float])] {
    let file = try SafetensorsFile(path: path)
    var out: [String: (shape: [Int], values: [Float])] = [:]
    for t in file.tensors {
        var values = [Float](repeating: 0, count: t.elementCount)
        if !values.isEmpty { try values.withUnsafeMutableBufferPointer { try file.readFloats(t, into: $0.baseAddress!) } }
        out[t.name] = (t.shape, values)
    }
    return out
}

/// A safetensors file written byte by byte from a header text and a body, as a crafted input would be.
func writeRawSafetensors(_ path: String, header: String, body: [UInt8] = []) throws {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
    try Data(bytes + Array(header.utf8) + body).write(to: URL(fileURLWithPath: path))
}

/// A model config far too large to allocate an r = 4096 adapter for (about 80 GB): a loader that
/// allocated before comparing shapes would die here instead of answering.
let hugeConfig = ModelConfig(
    architecture: .llama, hiddenSize: 8192, intermediateSize: 28672, numHiddenLayers: 80, numAttentionHeads: 64, numKeyValueHeads: 8,
    rmsNormEps: 1e-5, ropeTheta: 500_000, maxPositionEmbeddings: 8192, vocabSize: 128_256, tieWordEmbeddings: false)

/// Runs `body` expecting an error whose single-line description contains every one of `parts`.
func expectError(_ parts: String..., sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected an error containing \(parts)", sourceLocation: sourceLocation)
    } catch {
        let text = "\(error)"
        for p in parts { #expect(text.contains(p), "\"\(text)\" should contain \"\(p)\"", sourceLocation: sourceLocation) }
        #expect(!text.contains("\n"), sourceLocation: sourceLocation)
    }
}
