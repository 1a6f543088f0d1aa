// MTF round trips, checksums, and the reader's refusals of malformed files.

import Foundation
import TensorFile
import TestSupport
import Testing

// MARK: - Fixtures built in code

/// D 64, 4 heads (2 kv), F 96, V 32, eps 1e-5, 128 positions; one layer unless asked.
func tinyConfig(layers: Int = 1, tied: Bool = true) -> ModelConfig {
    TinyShape(dim: 64, headDim: nil, ffn: 96, vocab: 32, layers: layers, tied: tied, rmsNormEps: 1e-5, maxPositions: 128).config
}

func tinyMetadata(_ config: ModelConfig = tinyConfig()) -> MTFMetadata {
    TinyModelFile.metadata(config, source: "tiny", chatTemplate: "{{ messages }}", addedTokens: [AddedToken(id: 0, content: "t0")])
}

/// Deterministic pseudo-random floats.
func values(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<n).map { _ in
        s ^= s << 13
        s ^= s >> 7
        s ^= s << 17
        return Float(Int64(bitPattern: s % 2001) - 1000) / 997
    }
}

/// Writes a complete tiny model with every matrix in `dtype`; returns the f32 values written.
@discardableResult
func writeTinyModel(_ path: String, dtype: DType = .f32, config: ModelConfig = tinyConfig()) throws -> [String: [Float]] {
    var written: [String: [Float]] = [:]
    for (i, t) in config.requiredTensors.enumerated() { written[t.name] = values(t.shape.reduce(1, *), seed: UInt64(i + 1)) }
    try TinyModelFile.write(path: path, metadata: tinyMetadata(config), tensors: written, dtype: dtype)
    return written
}

// MARK: - Checksums

@Test(arguments: [
    ("", "ef46db3751d8e999"), ("a", "d24ec4f1a98c6e5b"), ("abc", "44bc2cf5ad770999"),
    ("Nobody inspects the spammish repetition", "fbcea83c8a378bf1"),
])
func xxh64KnownVectors(input: String, expected: String) {
    #expect(XXHash64.hex(XXHash64.hash(Array(input.utf8))) == expected)
}

@Test func xxh64StreamingEqualsOneShot() {
    let bytes = (0..<3).flatMap { _ in (0..<256).map { UInt8($0) } } + Array("xyz".utf8)
    #expect(XXHash64.hex(XXHash64.hash(bytes)) == "e921a1b45bd779f8")
    for split in [1, 7, 31, 32, 33, 100, 500] {
        var h = XXHash64()
        h.update(Array(bytes[..<split]))
        h.update(Array(bytes[split...]))
        #expect(XXHash64.hex(h.finalize()) == "e921a1b45bd779f8", "split at \(split)")
    }
}

// MARK: - Round trips

@Test(arguments: [DType.f32, .f16, .bf16])
func roundTripFloatDTypes(dtype: DType) throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.mtf"
    let written = try writeTinyModel(path, dtype: dtype)
    let m = try MappedTensorFile(path: path)
    try m.verify()
    #expect(m.metadata == tinyMetadata())
    for info in m.tensors {
        let v = m.view(info)
        #expect(Int(bitPattern: v.bytes.baseAddress!) % m.alignment == 0, "\(info.name) is aligned in memory")
        let got = v.toFloats()
        let want = written[info.name]!
        // f32 is exact; f16 keeps 11 significant bits, bf16 8: relative error ≤ 2^-11 and 2^-8 of |x| ≤ 1.01.
        let tol: Float = v.dtype == .f32 ? 0 : (v.dtype == .f16 ? 1.0 / 2048 : 1.0 / 256)
        #expect(maxAbsDiff(got, want) <= tol * 1.01, "\(info.name)")
    }
}

@Test func quantizedRowsDecodeAsGGML() throws {
    // One q8_0, q4_0 and q4_1 block each, built by hand: d = 0.5 (f16 0x3800), m = -1 (0xBC00).
    var q8: [UInt8] = [0x00, 0x38] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
    var q40: [UInt8] = [0x00, 0x38] + (0..<16).map { UInt8($0 | ((15 - $0) << 4)) }
    var q41: [UInt8] = [0x00, 0x38, 0x00, 0xBC] + (0..<16).map { UInt8($0 | ((15 - $0) << 4)) }
    var out = [Float](repeating: 0, count: 32)
    let low = (0..<16).map { Float($0) }
    let high = (0..<16).map { Float(15 - $0) }
    DType.q8_0.decode(&q8, into: &out, count: 32)
    let want8: [Float] = (0..<32).map { Float($0 - 16) * 0.5 }
    #expect(out == want8)
    DType.q4_0.decode(&q40, into: &out, count: 32)
    let want40: [Float] = (low + high).map { ($0 - 8) * 0.5 }
    #expect(out == want40)
    DType.q4_1.decode(&q41, into: &out, count: 32)
    let want41: [Float] = (low + high).map { $0 * 0.5 - 1 }
    #expect(out == want41)
}

@Test func bf16RoundsToNearestEven() {
    #expect(floatToBF16(1.0) == 0x3F80)
    #expect(floatToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie → even
    #expect(floatToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie → even (up)
    #expect(floatToBF16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
    #expect(bf16ToFloat(floatToBF16(.nan)).isNaN)
}

@Test func fingerprintIgnoresProvenanceButNotWeights() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeTinyModel(dir + "/a.mtf")
    try writeTinyModel(dir + "/b.mtf")
    try writeTinyModel(dir + "/c.mtf", dtype: .bf16)
    let a = try MappedTensorFile(path: dir + "/a.mtf")
    let b = try MappedTensorFile(path: dir + "/b.mtf")
    let c = try MappedTensorFile(path: dir + "/c.mtf")
    #expect(a.fingerprint == b.fingerprint)
    #expect(a.fingerprint != c.fingerprint)
    #expect(a.fingerprint.count == 16)
    // Same input, same bytes: conversion is deterministic.
    #expect(FileManager.default.contents(atPath: dir + "/a.mtf") == FileManager.default.contents(atPath: dir + "/b.mtf"))
}

@Test func writerLeavesNothingBehindWhenAbandoned() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.mtf"
    try writeTinyModel(path)
    let before = FileManager.default.contents(atPath: path)
    do {
        let config = tinyConfig()
        let specs = config.requiredTensors.map { TensorSpec(name: $0.name, dtype: .f32, shape: $0.shape) }
        let w = try MTFWriter(path: path, metadata: tinyMetadata(), tensors: specs)
        try w.write(name: specs[0].name, floats: values(specs[0].shape.reduce(1, *), seed: 9))
        #expect(throws: TensorFileError.self) { try w.finish() }  // not all tensors written
    }
    #expect(FileManager.default.contents(atPath: path) == before, "the existing file is untouched")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.mtf"], "no temporary file is left")
}

@Test func writerRejectsOutOfOrderAndWrongSize() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let specs = [TensorSpec(name: "a", dtype: .f32, shape: [4]), TensorSpec(name: "b", dtype: .f32, shape: [4])]
    let w = try MTFWriter(path: dir + "/x.mtf", metadata: tinyMetadata(), tensors: specs)
    #expect(throws: TensorFileError.self) { try w.write(name: "b", floats: [1, 2, 3, 4]) }
    #expect(throws: TensorFileError.self) { try w.write(name: "a", floats: [1, 2, 3]) }
    #expect(throws: TensorFileError.self) {
        try MTFWriter(path: dir + "/y.mtf", metadata: tinyMetadata(), tensors: specs + [specs[0]])
    }
}

// MARK: - Malformed files

/// Writes a valid file, applies `corrupt` to its bytes, and returns the reader's error text.
func openError(_ corrupt: (inout [UInt8]) -> Void, requireTensors: Bool = true) throws -> String {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.mtf"
    try writeTinyModel(path)
    var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
    corrupt(&bytes)
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    do {
        _ = try MappedTensorFile(path: path, requireArchitectureTensors: requireTensors)
        return "opened"
    } catch {
        let text = "\(error)"
        #expect(text.contains(path), "the error names the file: \(text)")
        #expect(!text.contains("\n"), "one line")
        return text
    }
}

func headerJSON(_ bytes: [UInt8]) -> (range: Range<Int>, object: [String: Any]) {
    let n = Int(bytes[16..<24].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
    let range = 64..<(64 + n)
    return (range, try! JSONSerialization.jsonObject(with: Data(bytes[range])) as! [String: Any])
}

/// Replaces the JSON header with `edit(object)` inside the space before the data section, fixing the
/// header length and checksum, so only the edited content is wrong.
func rewriteHeader(_ bytes: inout [UInt8], _ edit: (inout [String: Any]) -> Void) {
    var (range, object) = headerJSON(bytes)
    edit(&object)
    let json = [UInt8](try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    precondition(64 + json.count <= 4096, "edited header must fit before the data section")
    bytes.replaceSubrange(range, with: json + [UInt8](repeating: 0, count: max(0, range.count - json.count)))
    bytes.removeSubrange((64 + max(json.count, range.count))..<(64 + max(json.count, range.count) + max(0, json.count - range.count)))
    let h = XXHash64.hash(json)
    for i in 0..<8 {
        bytes[48 + i] = UInt8((h >> (8 * UInt64(i))) & 0xff)
        bytes[16 + i] = UInt8((UInt64(json.count) >> (8 * UInt64(i))) & 0xff)
    }
}

func editTensor(_ bytes: inout [UInt8], _ index: Int, _ edit: @escaping (inout [String: Any]) -> Void) {
    rewriteHeader(&bytes) { o in
        var tensors = o["tensors"] as! [[String: Any]]
        edit(&tensors[index])
        o["tensors"] = tensors
    }
}

@Test func rejectsMalformedFiles() throws {
    #expect(try openError { $0[0] = 0x58 }.contains("bad magic"))
    #expect(try openError { $0 = Array($0[0..<40]) }.contains("truncated"))
    #expect(try openError { $0.removeLast(100) }.contains("truncated"))
    #expect(try openError { $0 += [0, 0, 0] }.contains("trailing bytes"))
    #expect(try openError { $0[8] = 9 }.contains("version 9"))
    #expect(try openError { $0[12] = 1 }.contains("flags"))
    #expect(
        try openError {
            $0[40] = 100; $0[41] = 0
        }.contains("alignment"))
    #expect(try openError { $0[23] = 0x7f }.contains("header length"))
    #expect(try openError { $0[70] ^= 0x20 }.contains("checksum"))
    #expect(try openError { b in rewriteHeader(&b) { $0 = ["metadata": $0["metadata"]!] } }.contains("tensors"))
    #expect(try openError { b in rewriteHeader(&b) { o in o["tensors"] = "x" } }.contains("JSON"))
    #expect(try openError { b in editTensor(&b, 1) { $0["offset"] = 4096 * 100_000 } }.contains("past the data section"))
    #expect(try openError { b in editTensor(&b, 1) { $0["offset"] = 0 } }.contains("overlaps"))
    #expect(try openError { b in editTensor(&b, 1) { $0["offset"] = 100 } }.contains("aligned"))
    #expect(try openError { b in editTensor(&b, 0) { $0["shape"] = [32, 64, 1, 1, 1] } }.contains("absurd shape"))
    #expect(try openError { b in editTensor(&b, 0) { $0["shape"] = [-32, 64] } }.contains("absurd shape"))
    #expect(try openError { b in editTensor(&b, 0) { $0["shape"] = [1 << 31, 1 << 31] } }.contains("does not fit"))
    #expect(
        try openError { b in
            editTensor(&b, 0) {
                $0["dtype"] = "q4_0"; $0["shape"] = [32, 63]
            }
        }.contains("does not fit"))
    #expect(try openError { b in editTensor(&b, 0) { $0["dtype"] = "q9_9" } }.contains("JSON"))
    #expect(try openError { b in editTensor(&b, 1) { $0["name"] = "model.embed_tokens.weight" } }.contains("duplicate"))
    #expect(try openError { b in editTensor(&b, 2) { $0["name"] = "model.layers.0.renamed" } }.contains("required tensor"))
    #expect(try openError { b in editTensor(&b, 0) { $0["xxh64"] = "zz" } }.contains("checksum"))
    #expect(
        try openError { b in
            rewriteHeader(&b) { o in
                var m = o["metadata"] as! [String: Any]
                var c = m["config"] as! [String: Any]
                c["num_key_value_heads"] = 3
                m["config"] = c
                o["metadata"] = m
            }
        }.contains("num_key_value_heads"))
}

@Test func verifyFindsCorruptedData() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.mtf"
    try writeTinyModel(path)
    var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
    bytes[bytes.count - 5] ^= 1
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    let m = try MappedTensorFile(path: path)  // opening does not read the data
    #expect(throws: TensorFileError.self) { try m.verify() }
}

@Test func rejectsMissingAndNonRegularFiles() {
    #expect(throws: TensorFileError.self) { try MappedTensorFile(path: "/nonexistent/x.mtf") }
    #expect(throws: TensorFileError.self) { try MappedTensorFile(path: "/tmp") }
}
