// Constants and the fixed 64-byte prefix of the MTF format (formats/mtf.md is the spec).

public enum MTF {
    /// "LeanMTF" followed by a NUL.
    public static let magic: [UInt8] = Array("LeanMTF\0".utf8)
    public static let version: UInt32 = 1
    public static let prefixSize = 64
    public static let defaultAlignment = 4096
    /// Largest JSON header accepted: 64 MiB, several times a real one (SmolLM2's is about 2 MB, a
    /// 150k-token Qwen2 vocabulary with its merges under 10 MB).
    public static let maxHeaderLength: UInt64 = 64 << 20
}

/// The fixed prefix, little-endian.
struct MTFPrefix {
    var headerLength: UInt64
    var dataOffset: UInt64
    var dataLength: UInt64
    var alignment: UInt32
    var headerXXH64: UInt64

    func encoded() -> [UInt8] {
        var out = MTF.magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(MTF.version)
        put(UInt32(0))  // flags
        put(headerLength)
        put(dataOffset)
        put(dataLength)
        put(alignment)
        put(UInt32(0))
        put(headerXXH64)
        put(UInt64(0))
        precondition(out.count == MTF.prefixSize)
        return out
    }
}

/// One row of the tensor table.
public struct TensorInfo: Codable, Sendable, Equatable {
    public var name: String
    public var dtype: DType
    /// Hugging Face shape, row-major, [out, in] for matrices.
    public var shape: [Int]
    /// Offset from the start of the data section.
    public var offset: UInt64
    public var length: UInt64
    /// XXH64 of the tensor's bytes, 16 hex digits.
    public var xxh64: String

    public var elementCount: Int { shape.reduce(1, *) }
}

/// The JSON header.
struct MTFHeader: Codable {
    var metadata: MTFMetadata
    var tensors: [TensorInfo]
}

enum MTFJSON {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}

import Foundation

/// The base fingerprint: XXH64 over the canonical config JSON and every tensor's name, dtype, shape and
/// checksum. Equal weights and config give equal fingerprints whatever file they came from.
public func modelFingerprint(config: ModelConfig, tensors: [TensorInfo]) -> String {
    var h = XXHash64()
    let configJSON = (try? MTFJSON.encoder().encode(config)) ?? Data()
    configJSON.withUnsafeBytes { h.update($0) }
    for t in tensors {
        h.update(Array("\n\(t.name)|\(t.dtype.rawValue)|\(t.shape.map(String.init).joined(separator: ","))|\(t.xxh64)".utf8))
    }
    return XXHash64.hex(h.finalize())
}
