// The safetensors reader (the format in huggingface/safetensors' README; checks as its tensor.rs): an
// 8-byte header length, a JSON header whose entries must tile the data buffer exactly, and the buffer,
// read from a read-only mapping. Tensors may be unaligned, so data is copied and converted, never
// reinterpreted.

import Foundation
import JSON
import TensorFile

public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    /// The dtype string as written ("F32", "BF16", ...).
    public let dtype: String
    public let shape: [Int]
    /// Offsets relative to the start of the data buffer; `end` is exclusive.
    public let begin: Int
    public let end: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

public final class SafetensorsFile: @unchecked Sendable {
    /// MAX_HEADER_SIZE of the reference reader.
    public static let maxHeaderLength = 100_000_000
    /// Every dtype the format defines, with its width in bits.
    public static let dtypeBits: [String: Int] = [
        "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
        "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32,
        "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
    ]
    /// The dtypes `readFloats` converts.
    public static let floatDTypes: Set<String> = ["F32", "F16", "BF16"]

    public let path: String
    /// In data order.
    public let tensors: [SafetensorsTensorInfo]
    public let metadata: [String: String]?
    public let dataStart: Int
    private let file: MappedFile
    private let index: [String: Int]

    /// A quick test on the first 9+ bytes: a plausible header length followed by "{".
    static func looksLikeSafetensors(_ head: [UInt8]) -> Bool {
        guard head.count >= 9 else { return false }
        let n = head[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        return n >= 2 && n <= UInt64(maxHeaderLength) && head[8] == UInt8(ascii: "{")
    }

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let size = file.size
        guard size >= 8 else {
            throw ModelFileError(.truncated, path, "\(size)-byte file is too small for a safetensors header", at: "byte 0")
        }
        let n = UInt64(littleEndian: file.bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n <= UInt64(Self.maxHeaderLength) else {
            throw ModelFileError(.malformed, path, "header length \(n) exceeds the 100 MB limit", at: "byte 0")
        }
        guard 8 + Int(n) <= size else {
            throw ModelFileError(.truncated, path, "header length \(n) runs past the end of the \(size)-byte file", at: "byte 0")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file.bytes[8..<(8 + Int(n))])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw ModelFileError(.malformed, path, "header is not valid UTF-8", at: "bytes 8..<\(8 + n)")
        }
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw ModelFileError(.malformed, path, "header does not start with {", at: "byte 8")
        }
        let json = try JSONValue.parse(Data(headerBytes), path: path)
        guard let entries = json.object else { throw ModelFileError(.malformed, path, "header is not a JSON object", at: "byte 8") }

        var metadata: [String: String]?
        var tensors: [SafetensorsTensorInfo] = []
        for (name, v) in entries {
            let at = "header entry \(name)"
            if name == "__metadata__" {
                guard let o = v.object else { throw ModelFileError(.malformed, path, "__metadata__ is not an object", at: at) }
                var m: [String: String] = [:]
                for (k, s) in o {
                    guard let s = s.string else {
                        throw ModelFileError(.malformed, path, "__metadata__.\(k) is \(s.kindName), only strings are allowed", at: at)
                    }
                    m[k] = s
                }
                metadata = m
                continue
            }
            guard let o = v.object, let dtype = o["dtype"]?.string, let shapeJSON = o["shape"]?.array,
                let offsetsJSON = o["data_offsets"]?.array
            else {
                throw ModelFileError(.malformed, path, "tensor \(name) needs dtype (string), shape and data_offsets (arrays)", at: at)
            }
            guard Self.dtypeBits[dtype] != nil else {
                throw ModelFileError(.malformed, path, "tensor \(name) has unknown dtype \(dtype)", at: at)
            }
            let shape = shapeJSON.compactMap { $0.int }
            guard shape.count == shapeJSON.count, shape.allSatisfy({ $0 >= 0 }) else {
                throw ModelFileError(.malformed, path, "tensor \(name): shape must be non-negative integers", at: at)
            }
            let offsets = offsetsJSON.compactMap { $0.int }
            guard offsets.count == 2, offsetsJSON.count == 2, offsets[0] >= 0, offsets[1] >= 0 else {
                throw ModelFileError(.malformed, path, "tensor \(name): data_offsets must be two non-negative integers", at: at)
            }
            tensors.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
        }

        // The entries, in offset order, must tile the buffer: no gap, no overlap, exact lengths.
        tensors.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for t in tensors {
            let at = "header entry \(t.name)"
            guard t.begin == expected, t.end >= t.begin else {
                throw ModelFileError(
                    .malformed, path,
                    "tensor \(t.name): data_offsets [\(t.begin), \(t.end)] \(t.begin < expected ? "overlap the previous tensor" : "leave a gap or are reversed") (expected to begin at \(expected))",
                    at: at)
            }
            var elements = 1
            for d in t.shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw ModelFileError(.malformed, path, "tensor \(t.name): shape \(t.shape) overflows", at: at) }
                elements = p
            }
            let (bits, o) = elements.multipliedReportingOverflow(by: Self.dtypeBits[t.dtype]!)
            guard !o else { throw ModelFileError(.malformed, path, "tensor \(t.name): shape \(t.shape) × \(t.dtype) overflows", at: at) }
            guard bits % 8 == 0 else {
                throw ModelFileError(.malformed, path, "tensor \(t.name): shape \(t.shape) × \(t.dtype) is not a whole number of bytes", at: at)
            }
            guard t.end - t.begin == bits / 8 else {
                throw ModelFileError(
                    .malformed, path,
                    "tensor \(t.name): data_offsets span \(t.end - t.begin) bytes, shape \(t.shape) × \(t.dtype) needs \(bits / 8)", at: at)
            }
            expected = t.end
        }
        let (needed, overflow) = (8 + Int(n)).addingReportingOverflow(expected)
        guard !overflow, needed == size else {
            throw ModelFileError(
                overflow || size < needed ? .truncated : .malformed, path,
                "file is \(size) bytes, the header and data need \(overflow ? "more than \(Int.max)" : String(needed))")
        }
        self.tensors = tensors
        self.metadata = metadata
        self.dataStart = 8 + Int(n)
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The raw bytes of a tensor (valid while this object lives; may be unaligned).
    public func data(_ t: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + t.begin)..<(dataStart + t.end)])
    }

    /// Converts an F32, F16 or BF16 tensor to f32 into `dst` (t.elementCount floats), then lets the
    /// kernel drop its pages from this process.
    public func readFloats(_ t: SafetensorsTensorInfo, into dst: UnsafeMutablePointer<Float>) throws {
        let src = data(t)
        defer { file.release(offset: dataStart + t.begin, length: t.end - t.begin) }
        let n = t.elementCount
        guard n > 0, let p = src.baseAddress else { return }
        switch t.dtype {
        case "F32":
            UnsafeMutableRawPointer(dst).copyMemory(from: p, byteCount: n * 4)
            #if _endian(big)
                for i in 0..<n { dst[i] = Float(bitPattern: UInt32(littleEndian: dst[i].bitPattern)) }
            #endif
        case "F16":
            for i in 0..<n { dst[i] = halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case "BF16":
            for i in 0..<n { dst[i] = bf16ToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        default:
            throw ModelFileError(
                .unsupported, path, "tensor \(t.name) has dtype \(t.dtype); only F32, F16 and BF16 can be converted",
                at: "header entry \(t.name)")
        }
    }
}
