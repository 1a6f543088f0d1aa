// safetensors: the streaming writer (header order and padding as the reference writer), the reader's
// checks on malformed headers, unaligned data, and the refusal of dtypes that are not floats.

import Foundation
import ModelFiles
import SeededRandom
import TensorFile
import Testing

/// A safetensors file from a header string and data bytes (no padding, so data may be unaligned).
func safetensorsBytes(_ header: String, _ data: [UInt8], lengthOverride: UInt64? = nil) -> [UInt8] {
    le(lengthOverride ?? UInt64(header.utf8.count)) + Array(header.utf8) + data
}

@Test func writerSortsPadsAndReadsBack() throws {
    let dir = TempDir()
    var rng = SplitMix64(seed: 3)
    let specs = [
        TensorSpec(name: "z.f16", dtype: .f16, shape: [3]), TensorSpec(name: "b.f32", dtype: .f32, shape: [2, 3]),
        TensorSpec(name: "a.bf16", dtype: .bf16, shape: [5]), TensorSpec(name: "a.f32", dtype: .f32, shape: [1]),
    ]
    let values = specs.map { s in (0..<s.shape.reduce(1, *)).map { _ in rng.float() } }
    let w = try SafetensorsWriter(path: dir.file("x.safetensors"), tensors: specs)
    // Reference order: dtype descending (F32, BF16, F16), then name.
    #expect(w.entries.map(\.name) == ["a.f32", "b.f32", "a.bf16", "z.f16"])
    for e in w.entries {
        let i = specs.firstIndex { $0.name == e.name }!
        try w.write(name: e.name, floats: values[i])
    }
    try w.finish()
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("x.safetensors"))))
    let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
    #expect(n % 8 == 0)
    let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
    #expect(header.hasPrefix(#"{"__metadata__":{"format":"pt"},"a.f32":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b.f32""#))
    let f = try SafetensorsFile(path: dir.file("x.safetensors"))
    #expect(f.metadata == ["format": "pt"])
    for (i, s) in specs.enumerated() {
        let info = try #require(f.info(s.name))
        #expect(info.shape == s.shape)
        var out = [Float](repeating: .nan, count: info.elementCount)
        try out.withUnsafeMutableBufferPointer { try f.readFloats(info, into: $0.baseAddress!) }
        let rounded = values[i].map { s.dtype == .f16 ? halfToFloat(floatToHalf($0)) : s.dtype == .bf16 ? bf16ToFloat(floatToBF16($0)) : $0 }
        #expect(out == rounded, "\(s.name)")
    }
}

@Test func writerRefusesOutOfOrderAndUnfinishedWrites() throws {
    let dir = TempDir()
    let w = try SafetensorsWriter(
        path: dir.file("y.safetensors"), tensors: [TensorSpec(name: "a", dtype: .f32, shape: [2]), TensorSpec(name: "b", dtype: .f32, shape: [1])])
    expectModelError("tensor b written out of order (expected a)") { try w.write(name: "b", floats: [1]) }
    try w.write(name: "a", floats: [1, 2])
    expectModelError("only 1 of 2 tensors were written") { try w.finish() }
    #expect(!FileManager.default.fileExists(atPath: dir.file("y.safetensors")))
    expectModelError("safetensors export supports f32, f16 and bf16, not q4_0") {
        _ = try SafetensorsWriter(path: dir.file("z.safetensors"), tensors: [TensorSpec(name: "q", dtype: .q4_0, shape: [32])])
    }
}

@Test func unalignedDataIsCopiedNotReinterpreted() throws {
    let dir = TempDir()
    let x: [Float] = [1.5, -2.25, 3e-5]
    let h: [UInt16] = [floatToHalf(0.5), floatToHalf(-7)]
    let b: [UInt16] = [floatToBF16(1.25), floatToBF16(-3)]
    let data: [UInt8] = x.flatMap { le($0.bitPattern) } + h.flatMap { le($0) } + b.flatMap { le($0) }
    // An odd header length puts every tensor at an odd file offset.
    var header =
        #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"h":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}}"#
    if header.utf8.count % 2 == 0 { header += " " }
    try dir.write("u.safetensors", safetensorsBytes(header, data))
    let f = try SafetensorsFile(path: dir.file("u.safetensors"))
    #expect(f.dataStart % 2 == 1)
    func read(_ name: String) throws -> [Float] {
        let t = try #require(f.info(name))
        var out = [Float](repeating: .nan, count: t.elementCount)
        try out.withUnsafeMutableBufferPointer { try f.readFloats(t, into: $0.baseAddress!) }
        return out
    }
    #expect(try read("x") == x)
    #expect(try read("h") == [0.5, -7])
    #expect(try read("b") == [1.25, -3])
}

struct BadSafetensors: Sendable, CustomStringConvertible {
    let description: String
    let message: [String]
    let bytes: @Sendable () -> [UInt8]
}

let okHeader = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]}}"#
let okData = [UInt8](repeating: 0, count: 12)

let badSafetensors: [BadSafetensors] = [
    BadSafetensors(description: "too small", message: ["too small for a safetensors header"]) { [1, 2, 3] },
    BadSafetensors(description: "header over 100 MB", message: ["header length 100000001 exceeds the 100 MB limit"]) {
        safetensorsBytes(okHeader, okData, lengthOverride: 100_000_001)
    },
    BadSafetensors(description: "header past the end", message: ["header length 5000 runs past the end"]) {
        safetensorsBytes(okHeader, okData, lengthOverride: 5000)
    },
    BadSafetensors(description: "not starting with {", message: ["header does not start with {"]) { safetensorsBytes(" " + okHeader, okData) },
    BadSafetensors(description: "broken JSON", message: ["invalid JSON"]) { safetensorsBytes(#"{"a":{"dtype":"F32","#, okData) },
    BadSafetensors(description: "not an object", message: ["needs dtype (string), shape and data_offsets"]) {
        safetensorsBytes(#"{"a":[1,2]}"#, [])
    },
    BadSafetensors(description: "unknown dtype", message: ["tensor a has unknown dtype F12"]) {
        safetensorsBytes(okHeader.replacingOccurrences(of: "F32", with: "F12"), okData)
    },
    BadSafetensors(description: "gap", message: ["tensor b: data_offsets [9, 13] leave a gap", "expected to begin at 8"]) {
        safetensorsBytes(okHeader.replacingOccurrences(of: "[8,12]", with: "[9,13]"), okData + [0])
    },
    BadSafetensors(description: "overlap", message: ["tensor b: data_offsets [4, 8] overlap the previous tensor"]) {
        safetensorsBytes(okHeader.replacingOccurrences(of: "[8,12]", with: "[4,8]"), Array(okData.prefix(8)))
    },
    BadSafetensors(description: "wrong byte length", message: ["tensor a: data_offsets span 8 bytes, shape [3] × F32 needs 12"]) {
        safetensorsBytes(okHeader.replacingOccurrences(of: #""shape":[2],"data_offsets":[0,8]"#, with: #""shape":[3],"data_offsets":[0,8]"#), okData)
    },
    BadSafetensors(description: "absurd shape", message: ["tensor a: shape", "overflows"]) {
        safetensorsBytes(okHeader.replacingOccurrences(of: #""shape":[2]"#, with: #""shape":[4294967296,4294967296,4]"#), okData)
    },
    BadSafetensors(description: "negative shape", message: ["shape must be non-negative integers"]) {
        safetensorsBytes(okHeader.replacingOccurrences(of: #""shape":[2]"#, with: #""shape":[-2]"#), okData)
    },
    BadSafetensors(
        description: "truncated data",
        message: ["file is \(8 + okHeader.utf8.count + 11) bytes, the header and data need \(8 + okHeader.utf8.count + 12)"]
    ) {
        safetensorsBytes(okHeader, Array(okData.dropLast()))
    },
    BadSafetensors(
        description: "trailing bytes",
        message: ["file is \(8 + okHeader.utf8.count + 13) bytes, the header and data need \(8 + okHeader.utf8.count + 12)"]
    ) {
        safetensorsBytes(okHeader, okData + [0])
    },
    BadSafetensors(description: "metadata not strings", message: ["__metadata__.format is a number, only strings are allowed"]) {
        safetensorsBytes(#"{"__metadata__":{"format":1},"# + okHeader.dropFirst(), okData)
    },
]

@Test(arguments: badSafetensors)
func malformedSafetensorsGivesOneClearError(_ bad: BadSafetensors) throws {
    let dir = TempDir()
    try dir.write("bad.safetensors", bad.bytes())
    expectModelError(bad.message) { _ = try SafetensorsFile(path: dir.file("bad.safetensors")) }
}

@Test func validHeaderOpens() throws {
    let dir = TempDir()
    try dir.write("ok.safetensors", safetensorsBytes(okHeader + "   ", okData))
    let f = try SafetensorsFile(path: dir.file("ok.safetensors"))
    #expect(f.tensors.map(\.name) == ["a", "b"])
}

@Test func offsetsSummingPastIntMaxAreRefused() throws {
    let dir = TempDir()
    // Sixteen U8 tensors of 2^59 bytes each tile a buffer whose end overflows.
    let size = 1 << 59
    let parts = (0..<15).map { #""t\#($0)":{"dtype":"U8","shape":[\#(size)],"data_offsets":[\#($0 * size),\#(($0 + 1) * size)]}"# }
    let last = #""t15":{"dtype":"U8","shape":[\#(size - 1)],"data_offsets":[\#(15 * size),\#(Int.max)]}"#
    try dir.write("o.safetensors", safetensorsBytes("{" + (parts + [last]).joined(separator: ",") + "}", []))
    expectModelError("the header and data need more than", kind: .truncated) { _ = try SafetensorsFile(path: dir.file("o.safetensors")) }
}
