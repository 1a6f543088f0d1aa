// The GGUF reader on files the tests write: every metadata value type (v2 and v3), alignment, and each
// kind of malformed file giving one clear error, never a crash.

import Foundation
import ModelFiles
import Testing

// MARK: - Metadata

let everyValueType: [(String, GGUFValue)] = [
    ("t.u8", .uint8(200)), ("t.i8", .int8(-100)), ("t.u16", .uint16(60000)), ("t.i16", .int16(-30000)),
    ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)), ("t.f32", .float32(9.9999997e-06)),
    ("t.bool", .bool(true)), ("t.bool0", .bool(false)), ("t.str", .string("héllo ⟨utf-8⟩")), ("t.empty_str", .string("")),
    ("t.arr", .array(.int32, [.int32(1), .int32(-2), .int32(3)])), ("t.u64", .uint64(.max)), ("t.i64", .int64(.min)),
    ("t.f64", .float64(-2.25e300)), ("t.empty", .array(.uint8, [])),
    ("t.strings", .array(.string, [.string("Ġ t"), .string(""), .string("<|im_end|>")])),
    (
        "t.nested",
        .array(
            .array,
            [
                .array(.string, [.string("a"), .string("b")]), .array(.float32, []),
                .array(.array, [.array(.bool, [.bool(true), .bool(false)]), .array(.float64, [.float64(0.5)])]),
            ])
    ),
]

@Test(arguments: [UInt32(2), 3])
func metadataOfEveryValueTypeRoundTrips(version: UInt32) throws {
    let dir = TempDir()
    var b = GGUFBuilder()
    b.version = version
    for (k, v) in everyValueType { b.add(k, v) }
    try b.write(to: dir.file("m.gguf"))
    let f = try GGUFFile(path: dir.file("m.gguf"))
    #expect(f.version == version)
    #expect(f.keys == everyValueType.map(\.0))
    for (k, v) in everyValueType { #expect(f[k] == v, "\(k)") }
    #expect(f.tensors.isEmpty)
    #expect(f.alignment == 32)
    // Typed accessors convert integer widths only when the value fits.
    #expect(f["t.u64"]?.int == nil)
    #expect(f["t.i64"]?.int == Int(Int64.min))
    #expect(f["t.u32"]?.int == 4_000_000_000)
    #expect(f["t.f32"]?.double == Double(Float(9.9999997e-06)))
    #expect(f["t.str"]?.string == "héllo ⟨utf-8⟩")
    #expect(f["t.nested"]?.array?.count == 3)
}

@Test func everyValueTypeIsCovered() {
    let covered = Set(everyValueType.map { $0.1.type })
    #expect(covered == Set(GGUFValueType.allCases))
}

@Test(arguments: [32, 64, 1, 4096])
func alignmentPlacesTheDataSection(alignment: Int) throws {
    let dir = TempDir()
    var b = GGUFBuilder()
    b.alignment = alignment
    if alignment != 32 { b.add("general.alignment", .uint32(UInt32(alignment))) }
    let x: [Float] = [1, -2, 3.5, 0.25, 7, 8, 9]  // 28 bytes: the second tensor needs padding
    b.tensor("a", ne: [7], floats: x)
    b.tensor("b", ne: [3, 2], floats: [1, 2, 3, 4, 5, 6])
    try b.write(to: dir.file("a.gguf"))
    let f = try GGUFFile(path: dir.file("a.gguf"))
    #expect(f.alignment == alignment)
    #expect(f.dataStart % alignment == 0)
    #expect(f.tensors.map(\.offset) == [0, (28 + alignment - 1) / alignment * alignment])
    #expect(f.tensors[1].shape == [2, 3])
    let bytes = f.data(f.tensors[0])
    #expect((0..<7).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } == x)
}

// MARK: - Malformed files

struct BadGGUF: Sendable, CustomStringConvertible {
    let description: String
    let message: [String]
    let kind: ModelFileError.Kind
    let bytes: @Sendable () -> [UInt8]
}

/// A valid small file: two metadata pairs and two F32 tensors.
func validSmallGGUF(_ edit: (inout GGUFBuilder) -> Void = { _ in }) -> [UInt8] {
    var b = GGUFBuilder()
    b.add("general.architecture", .string("llama"))
    b.add("x.count", .uint32(3))
    b.tensor("first", ne: [4], floats: [1, 2, 3, 4])
    b.tensor("second", ne: [8], floats: [1, 2, 3, 4, 5, 6, 7, 8])
    edit(&b)
    return b.build()
}

let badGGUFs: [BadGGUF] = [
    BadGGUF(description: "wrong magic", message: ["not a GGUF file", "byte 0"], kind: .malformed) {
        var x = validSmallGGUF()
        x[3] = UInt8(ascii: "X")
        return x
    },
    BadGGUF(description: "big-endian", message: ["big-endian"], kind: .unsupported) {
        var x = validSmallGGUF()
        x.replaceSubrange(4..<8, with: [0, 0, 0, 3])
        return x
    },
    BadGGUF(description: "version 1", message: ["GGUF version 1 is not supported", "byte 4"], kind: .unsupported) {
        validSmallGGUF { $0.version = 1 }
    },
    BadGGUF(description: "version 4", message: ["GGUF version 4 is not supported"], kind: .unsupported) {
        validSmallGGUF { $0.version = 4 }
    },
    BadGGUF(description: "absurd tensor count", message: ["tensor count 4611686018427387904 cannot fit"], kind: .malformed) {
        validSmallGGUF { $0.tensorCountOverride = 1 << 62 }
    },
    BadGGUF(description: "absurd metadata count", message: ["metadata count", "cannot fit"], kind: .malformed) {
        validSmallGGUF { $0.kvCountOverride = UInt64.max }
    },
    BadGGUF(description: "string length past the end", message: ["file ends inside", "the key of metadata pair 0"], kind: .truncated) {
        var x = validSmallGGUF()
        x.replaceSubrange(24..<32, with: le(UInt64(1) << 40))
        return x
    },
    BadGGUF(description: "unknown value type", message: ["x.count has unknown value type 13"], kind: .malformed) {
        var x = validSmallGGUF()
        let at = x.firstRange(of: Array("x.count".utf8))!.upperBound  // the value type follows the key
        x.replaceSubrange(at..<(at + 4), with: le(UInt32(13)))
        return x
    },
    BadGGUF(description: "bool other than 0/1", message: ["flag holds bool byte 2"], kind: .malformed) {
        var x = validSmallGGUF { $0.add("flag", .bool(true)) }
        let at = x.firstRange(of: Array("flag".utf8))!.upperBound + 4
        x[at] = 2
        return x
    },
    BadGGUF(description: "duplicate key", message: ["duplicate metadata key x.count"], kind: .malformed) {
        validSmallGGUF { $0.add("x.count", .uint32(4)) }
    },
    BadGGUF(description: "array count past the end", message: ["array big declares", "elements"], kind: .truncated) {
        var x = validSmallGGUF { $0.add("big", .array(.uint64, [.uint64(1)])) }
        let at = x.firstRange(of: Array("big".utf8))!.upperBound + 4 + 4
        x.replaceSubrange(at..<(at + 8), with: le(UInt64(1) << 59))
        return x
    },
    BadGGUF(description: "arrays nested too deep", message: ["deep nests arrays deeper than 8"], kind: .malformed) {
        validSmallGGUF {
            var v = GGUFValue.array(.uint8, [])
            for _ in 0..<9 { v = .array(.array, [v]) }
            $0.add("deep", v)
        }
    },
    BadGGUF(description: "alignment not a power of two", message: ["general.alignment 48 is not a power of two"], kind: .malformed) {
        validSmallGGUF { $0.add("general.alignment", .uint32(48)) }
    },
    BadGGUF(description: "alignment of the wrong type", message: ["general.alignment must be a u32, found uint64"], kind: .malformed) {
        validSmallGGUF { $0.add("general.alignment", .uint64(32)) }
    },
    BadGGUF(description: "five dimensions", message: ["tensor five has 5 dimensions (at most 4)", "tensor info 2"], kind: .malformed) {
        validSmallGGUF { $0.tensor("five", ne: [1, 1, 1, 1, 1], floats: [1]) }
    },
    BadGGUF(description: "duplicate tensor name", message: ["duplicate tensor name first"], kind: .malformed) {
        validSmallGGUF { $0.tensor("first", ne: [1], floats: [1]) }
    },
    BadGGUF(description: "name too long", message: ["is longer than 63 bytes"], kind: .malformed) {
        validSmallGGUF { $0.tensor(String(repeating: "n", count: 64), ne: [1], floats: [1]) }
    },
    BadGGUF(
        description: "row not whole blocks", message: ["tensor q: row length ne[0]=16 is not a multiple of the Q4_0 block size 32"], kind: .malformed
    ) {
        validSmallGGUF { $0.tensor("q", ne: [16], type: .q4_0, data: [UInt8](repeating: 0, count: 9)) }
    },
    BadGGUF(description: "unknown ggml type", message: ["tensor odd has unknown ggml type id 99"], kind: .unsupported) {
        validSmallGGUF {
            $0.tensors.append(GGUFBuilder.Tensor(name: "odd", ne: [4], typeId: 99, data: [UInt8](repeating: 0, count: 16)))
        }
    },
    BadGGUF(description: "element count overflow", message: ["tensor huge", "overflows"], kind: .malformed) {
        validSmallGGUF { $0.tensor("huge", ne: [1 << 40, 1 << 40], type: .f32, data: []) }
    },
    BadGGUF(description: "gap between tensors", message: ["tensor second has data offset 64, expected 32"], kind: .malformed) {
        validSmallGGUF { $0.tensors[1].offsetOverride = 64 }
    },
    BadGGUF(description: "overlapping tensors", message: ["tensor second has data offset 0, expected 32"], kind: .malformed) {
        validSmallGGUF { $0.tensors[1].offsetOverride = 0 }
    },
    BadGGUF(description: "data past the end", message: ["tensor second data", "runs past the end"], kind: .truncated) {
        Array(validSmallGGUF().dropLast(4))
    },
    BadGGUF(description: "tensor sizes beyond the file", message: ["tensor big data", "runs past the end"], kind: .truncated) {
        validSmallGGUF { $0.tensor("big", ne: [1 << 30, 1 << 20], type: .f32, data: []) }
    },
    BadGGUF(description: "key not UTF-8", message: ["is not valid UTF-8"], kind: .malformed) {
        var x = validSmallGGUF()
        x[32] = 0xFF  // first byte of "general.architecture"
        return x
    },
]

@Test(arguments: badGGUFs)
func malformedGGUFGivesOneClearError(_ bad: BadGGUF) throws {
    let dir = TempDir()
    try dir.write("bad.gguf", bad.bytes())
    expectModelError(bad.message, kind: bad.kind) { _ = try GGUFFile(path: dir.file("bad.gguf")) }
}

@Test func everyTruncationOfAValidFileIsAnError() throws {
    let dir = TempDir()
    let full = validSmallGGUF()
    let path = dir.file("t.gguf")
    for n in 0..<full.count {
        try dir.write("t.gguf", Array(full.prefix(n)))
        do {
            _ = try GGUFFile(path: path)
            Issue.record("a \(n)-byte prefix of a \(full.count)-byte file opened")
        } catch let e as ModelFileError {
            #expect(e.kind == .truncated || e.kind == .malformed, "\(n): \(e)")
        }
    }
    try dir.write("t.gguf", full)
    #expect(try GGUFFile(path: path).tensors.count == 2)
}

@Test func notAFileIsAnIOError() {
    expectModelError("no-such.gguf", "cannot open", kind: .io) { _ = try GGUFFile(path: "/nonexistent/no-such.gguf") }
    expectModelError("not a regular file", kind: .io) { _ = try GGUFFile(path: "/tmp") }
}
