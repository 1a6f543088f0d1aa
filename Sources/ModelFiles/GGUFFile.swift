// The GGUF reader (v2 and v3, little-endian; spec: ggml docs/gguf.md, checks as src/gguf.cpp): metadata,
// tensor infos and the data section of a read-only mapping. Every count, length and offset is checked
// against the file before use, so a malformed or hostile file produces one error and nothing else.

import Foundation

public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// GGML dimensions, fastest-varying first (ne[0] is the row length).
    public let ne: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { ne.reduce(1, *) }
    /// The row-major (PyTorch / Hugging Face) shape: ne reversed.
    public var shape: [Int] { ne.reversed() }
}

public final class GGUFFile: @unchecked Sendable {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    /// GGML_MAX_DIMS.
    public static let maxDims = 4
    /// GGML_MAX_NAME (the name plus its NUL must fit in 64 bytes).
    public static let maxNameLength = 63
    static let maxArrayNesting = 8

    public let path: String
    public let version: UInt32
    /// Keys in file order.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// File offset of the data section.
    public let dataStart: Int
    private let file: MappedFile

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = ByteReader(file.bytes, path: path)

        // MARK: Header
        guard file.size >= 4, Array(try r.slice(4, "the magic")) == Self.magic else {
            throw ModelFileError(.malformed, path, "not a GGUF file (bad magic)", at: "byte 0")
        }
        let version = try r.u32("the version")
        if version & 0xFFFF == 0 && version != 0 {
            throw ModelFileError(
                .unsupported, path, "big-endian GGUF files are not supported (version field reads \(version.byteSwapped) byte-swapped)",
                at: "byte 4")
        }
        guard version == 2 || version == 3 else {
            throw ModelFileError(.unsupported, path, "GGUF version \(version) is not supported (this reader handles versions 2 and 3)", at: "byte 4")
        }
        self.version = version
        let tensorCount = try r.u64("the tensor count")
        let kvCount = try r.u64("the metadata count")
        // The smallest tensor info is 24 bytes and the smallest key-value pair 13, so larger counts
        // cannot be real; checking here also keeps the allocations below bounded by the file size.
        guard tensorCount <= UInt64(r.remaining / 24) else {
            throw ModelFileError(
                .malformed, path, "tensor count \(tensorCount) cannot fit in a \(file.size)-byte file (truncated or corrupt)", at: "byte 8")
        }
        guard kvCount <= UInt64(r.remaining / 13) else {
            throw ModelFileError(
                .malformed, path, "metadata count \(kvCount) cannot fit in a \(file.size)-byte file (truncated or corrupt)", at: "byte 16")
        }

        // MARK: Metadata
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for i in 0..<Int(kvCount) {
            let at = r.offset
            let key = try Self.readString(&r, "the key of metadata pair \(i)")
            guard metadata[key] == nil else {
                throw ModelFileError(.malformed, path, "duplicate metadata key \(key)", at: "byte \(at)")
            }
            let rawType = try r.u32("the value type of \(key)")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw ModelFileError(.malformed, path, "metadata key \(key) has unknown value type \(rawType)", at: "byte \(r.offset - 4)")
            }
            metadata[key] = try Self.readValue(&r, type, key: key, depth: 0)
            keys.append(key)
        }
        self.keys = keys
        self.metadata = metadata

        var alignment = Self.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard case .uint32(let v) = a else {
                throw ModelFileError(.malformed, path, "general.alignment must be a u32, found \(a.typeName)", at: "key general.alignment")
            }
            guard v > 0, v & (v - 1) == 0 else {
                throw ModelFileError(.malformed, path, "general.alignment \(v) is not a power of two", at: "key general.alignment")
            }
            alignment = Int(v)
        }
        self.alignment = alignment

        // MARK: Tensor infos
        var infos: [(name: String, ne: [Int], type: GGMLType, offset: UInt64, bytes: Int, at: Int)] = []
        infos.reserveCapacity(Int(tensorCount))
        var names = Set<String>()
        for i in 0..<Int(tensorCount) {
            let at = r.offset
            let whereInfo = "tensor info \(i) at byte \(at)"
            let name = try Self.readString(&r, "the name of tensor \(i)")
            guard name.utf8.count <= Self.maxNameLength else {
                throw ModelFileError(.malformed, path, "tensor name \(name.prefix(80))… is longer than \(Self.maxNameLength) bytes", at: whereInfo)
            }
            guard names.insert(name).inserted else {
                throw ModelFileError(.malformed, path, "duplicate tensor name \(name)", at: whereInfo)
            }
            let nDims = try r.u32("the dimension count of \(name)")
            guard nDims <= UInt32(Self.maxDims) else {
                throw ModelFileError(.malformed, path, "tensor \(name) has \(nDims) dimensions (at most \(Self.maxDims))", at: whereInfo)
            }
            var ne: [Int] = []
            var elements: Int = 1
            for _ in 0..<Int(nDims) {
                let d = try r.u64("the dimensions of \(name)")
                guard d <= UInt64(Int64.max) else {
                    throw ModelFileError(.malformed, path, "tensor \(name) has a negative dimension", at: whereInfo)
                }
                let (p, o) = elements.multipliedReportingOverflow(by: Int(d))
                guard !o else {
                    throw ModelFileError(.malformed, path, "tensor \(name): element count of dimensions \(ne + [Int(d)]) overflows", at: whereInfo)
                }
                ne.append(Int(d))
                elements = p
            }
            let rawType = try r.u32("the type of \(name)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw ModelFileError(.unsupported, path, "tensor \(name) has unknown ggml type id \(rawType)", at: whereInfo)
            }
            let offset = try r.u64("the offset of \(name)")
            let rowLength = ne.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw ModelFileError(
                    .malformed, path, "tensor \(name): row length ne[0]=\(rowLength) is not a multiple of the \(type) block size \(type.blockSize)",
                    at: whereInfo)
            }
            let (bytes, o) = (elements / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
            guard !o else { throw ModelFileError(.malformed, path, "tensor \(name): byte size overflows", at: whereInfo) }
            infos.append((name, ne, type, offset, bytes, at))
        }

        // MARK: Data section
        let infoEnd = r.offset
        let dataStart = Self.alignUp(infoEnd, alignment)
        self.dataStart = dataStart
        // gguf.cpp requires each offset to be exactly where the previous tensors (padded) end.
        var expected = 0
        var tensors: [GGUFTensorInfo] = []
        for (i, t) in infos.enumerated() {
            guard t.offset == UInt64(expected) else {
                throw ModelFileError(
                    .malformed, path,
                    "tensor \(t.name) has data offset \(t.offset), expected \(expected) (tensors must be contiguous, each padded to \(alignment) bytes)",
                    at: "tensor info \(i) at byte \(t.at)")
            }
            let (end, o1) = dataStart.addingReportingOverflow(expected)
            let (last, o2) = end.addingReportingOverflow(t.bytes)
            guard !o1, !o2, last <= file.size else {
                throw ModelFileError(
                    .truncated, path,
                    "tensor \(t.name) data (bytes \(dataStart + expected)..<\(o1 || o2 ? "overflow" : String(last))) runs past the end of the \(file.size)-byte file",
                    at: "tensor info \(i) at byte \(t.at)")
            }
            tensors.append(GGUFTensorInfo(name: t.name, ne: t.ne, type: t.type, offset: expected, byteCount: t.bytes))
            expected += Self.alignUp(t.bytes, alignment)
        }
        self.tensors = tensors
    }

    static func alignUp(_ v: Int, _ a: Int) -> Int { (v + a - 1) / a * a }

    // MARK: - Values

    static func readString(_ r: inout ByteReader, _ what: String) throws -> String {
        let at = r.offset
        let length = try r.u64("the length of \(what)")
        let bytes = try r.slice(length, what)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw ModelFileError(.malformed, r.path, "\(what) is not valid UTF-8", at: "byte \(at)")
        }
        return s
    }

    static func readValue(_ r: inout ByteReader, _ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of \(key)"
        switch type {
        case .uint8: return .uint8(try r.load(UInt8.self, what))
        case .int8: return .int8(try r.load(Int8.self, what))
        case .uint16: return .uint16(try r.load(UInt16.self, what))
        case .int16: return .int16(try r.load(Int16.self, what))
        case .uint32: return .uint32(try r.load(UInt32.self, what))
        case .int32: return .int32(try r.load(Int32.self, what))
        case .uint64: return .uint64(try r.load(UInt64.self, what))
        case .int64: return .int64(try r.load(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try r.load(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try r.load(UInt64.self, what)))
        case .bool:
            let b = try r.u8(what)
            guard b <= 1 else {
                throw ModelFileError(.malformed, r.path, "\(key) holds bool byte \(b) (only 0 or 1 are valid)", at: "byte \(r.offset - 1)")
            }
            return .bool(b == 1)
        case .string:
            return .string(try readString(&r, what))
        case .array:
            let at = r.offset
            guard depth < maxArrayNesting else {
                throw ModelFileError(.malformed, r.path, "\(key) nests arrays deeper than \(maxArrayNesting) levels", at: "byte \(at)")
            }
            let rawType = try r.u32("the element type of \(key)")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw ModelFileError(.malformed, r.path, "array \(key) has unknown element type \(rawType)", at: "byte \(at)")
            }
            let count = try r.u64("the element count of \(key)")
            guard count <= UInt64(r.remaining / elementType.minimumSize) else {
                throw ModelFileError(
                    .truncated, r.path, "array \(key) declares \(count) elements of \(elementType) but only \(r.remaining) bytes are left",
                    at: "byte \(at)")
            }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                elements.append(try readValue(&r, elementType, key: key, depth: depth + 1))
            }
            return .array(elementType, elements)
        }
    }

    // MARK: - Data

    /// The bytes of one tensor inside the mapping (valid while this object lives).
    public func data(_ t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + t.offset)..<(dataStart + t.offset + t.byteCount)])
    }

    /// Lets the kernel drop a tensor's pages from this process once it has been read.
    public func release(_ t: GGUFTensorInfo) {
        file.release(offset: dataStart + t.offset, length: t.byteCount)
    }

    public var fileSize: Int { file.size }

    public subscript(key: String) -> GGUFValue? { metadata[key] }
}
