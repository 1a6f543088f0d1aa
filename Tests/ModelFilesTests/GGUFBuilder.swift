// A test-only GGUF writer: metadata of any value type, tensors with raw block bytes, and knobs to break
// the layout (version, offsets, alignment) so the reader's checks can be exercised.

import Foundation
import ModelFiles

struct GGUFBuilder {
    struct Tensor {
        var name: String
        var ne: [Int]
        var typeId: UInt32
        var data: [UInt8]
        /// Written instead of the computed offset when set.
        var offsetOverride: UInt64?
    }

    var version: UInt32 = 3
    var alignment = 32
    var kvs: [(String, GGUFValue)] = []
    var tensors: [Tensor] = []
    /// Written instead of the real counts when set.
    var tensorCountOverride: UInt64?
    var kvCountOverride: UInt64?

    mutating func add(_ key: String, _ value: GGUFValue) { kvs.append((key, value)) }

    mutating func tensor(_ name: String, ne: [Int], type: GGMLType, data: [UInt8]) {
        tensors.append(Tensor(name: name, ne: ne, typeId: type.rawValue, data: data))
    }

    mutating func tensor(_ name: String, ne: [Int], floats: [Float]) {
        precondition(ne.reduce(1, *) == floats.count)
        tensor(name, ne: ne, type: .f32, data: floats.flatMap { le($0.bitPattern) })
    }

    func build() -> [UInt8] {
        var out = Array("GGUF".utf8)
        out += le(version)
        out += le(tensorCountOverride ?? UInt64(tensors.count))
        out += le(kvCountOverride ?? UInt64(kvs.count))
        for (k, v) in kvs {
            out += Self.string(k)
            out += le(v.type.rawValue)
            out += Self.encode(v)
        }
        var offset: UInt64 = 0
        for t in tensors {
            out += Self.string(t.name)
            out += le(UInt32(t.ne.count))
            for d in t.ne { out += le(UInt64(d)) }
            out += le(t.typeId)
            out += le(t.offsetOverride ?? offset)
            offset += UInt64(Self.alignUp(t.data.count, alignment))
        }
        while out.count % alignment != 0 { out.append(0) }
        for (i, t) in tensors.enumerated() {
            out += t.data
            if i + 1 < tensors.count { while out.count % alignment != 0 { out.append(0) } }
        }
        return out
    }

    func write(to path: String) throws {
        try Data(build()).write(to: URL(fileURLWithPath: path))
    }

    static func alignUp(_ v: Int, _ a: Int) -> Int { (v + a - 1) / a * a }

    static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    static func encode(_ v: GGUFValue) -> [UInt8] {
        switch v {
        case .uint8(let x): [x]
        case .int8(let x): [UInt8(bitPattern: x)]
        case .uint16(let x): le(x)
        case .int16(let x): le(x)
        case .uint32(let x): le(x)
        case .int32(let x): le(x)
        case .uint64(let x): le(x)
        case .int64(let x): le(x)
        case .float32(let x): le(x.bitPattern)
        case .float64(let x): le(x.bitPattern)
        case .bool(let b): [b ? 1 : 0]
        case .string(let s): string(s)
        case .array(let t, let items): le(t.rawValue) + le(UInt64(items.count)) + items.flatMap(encode)
        }
    }
}

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    withUnsafeBytes(of: v.littleEndian) { Array($0) }
}
