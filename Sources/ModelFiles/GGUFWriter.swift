// The GGUF v3 writer (ggml docs/gguf.md, the layout GGUFFile reads): header, metadata, tensor infos and
// the data section with every tensor padded to the alignment and offsets contiguous in info order, as
// gguf.cpp requires. Everything before the data is known up front, so tensors stream through one at a
// time and the file is committed atomically.

import Foundation
import TensorFile

public final class GGUFWriter {
    /// One tensor as GGUF declares it.
    public struct Tensor: Sendable, Equatable {
        public let name: String
        /// GGML dimensions, fastest-varying first (the reverse of the row-major shape).
        public let ne: [Int]
        public let type: GGMLType

        /// `shape` is row-major ([out, in]), as Hugging Face and MTF write it.
        public init(name: String, shape: [Int], type: GGMLType) {
            self.name = name
            self.ne = shape.reversed()
            self.type = type
        }

        public var elementCount: Int { ne.reduce(1, *) }
        public var byteCount: Int { elementCount / type.blockSize * type.blockBytes }
    }

    public static let version: UInt32 = 3
    public let path: String
    public let alignment: Int
    public let tensors: [Tensor]
    private let file: AtomicFileWriter
    private var next = 0
    private var written = 0

    /// Validates the declaration (names, dimensions, block multiples, alignment) and writes everything
    /// up to the data section. `metadata` is written in the order given.
    public init(path: String, metadata: [(key: String, value: GGUFValue)], tensors: [Tensor], alignment: Int = GGUFFile.defaultAlignment)
        throws
    {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUF alignment must be a power of two")
        self.path = path
        self.alignment = alignment
        self.tensors = tensors
        var out: [UInt8] = []
        out += GGUFFile.magic
        Self.put(Self.version, &out)
        Self.put(UInt64(tensors.count), &out)
        var keys = metadata
        if alignment != GGUFFile.defaultAlignment { keys.append(("general.alignment", .uint32(UInt32(alignment)))) }
        Self.put(UInt64(keys.count), &out)
        var seenKeys = Set<String>()
        for (key, value) in keys {
            guard seenKeys.insert(key).inserted else { throw ModelFileError(.malformed, path, "duplicate metadata key \(key)") }
            Self.putString(key, &out)
            Self.put(value.type.rawValue, &out)
            Self.putValue(value, &out)
        }
        var names = Set<String>()
        var offset = 0
        for t in tensors {
            guard names.insert(t.name).inserted else { throw ModelFileError(.malformed, path, "duplicate tensor \(t.name)") }
            guard !t.name.isEmpty, t.name.utf8.count <= GGUFFile.maxNameLength else {
                throw ModelFileError(.unsupported, path, "tensor name \(t.name) is empty or longer than \(GGUFFile.maxNameLength) bytes")
            }
            guard (1...GGUFFile.maxDims).contains(t.ne.count), t.ne.allSatisfy({ $0 > 0 }) else {
                throw ModelFileError(
                    .unsupported, path, "tensor \(t.name) has shape \(Array(t.ne.reversed())); GGUF takes 1 to 4 positive dimensions")
            }
            guard t.ne[0] % t.type.blockSize == 0 else {
                throw ModelFileError(
                    .unsupported, path, "tensor \(t.name): row length \(t.ne[0]) is not a multiple of the \(t.type) block size \(t.type.blockSize)")
            }
            Self.putString(t.name, &out)
            Self.put(UInt32(t.ne.count), &out)
            for d in t.ne { Self.put(UInt64(d), &out) }
            Self.put(t.type.rawValue, &out)
            Self.put(UInt64(offset), &out)
            offset += GGUFFile.alignUp(t.byteCount, alignment)
        }
        out += [UInt8](repeating: 0, count: GGUFFile.alignUp(out.count, alignment) - out.count)
        do {
            file = try AtomicFileWriter(path: path)
            try file.write(out)
        } catch {
            throw ExportDestination.ioError(error, path)
        }
    }

    // MARK: - Data

    /// The tensor the writer expects next, nil when all are written.
    public var nextTensor: Tensor? { next < tensors.count ? tensors[next] : nil }

    /// Appends bytes of the current tensor (any number of calls per tensor); pads it once complete.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let t = nextTensor else { throw ModelFileError(.io, path, "more data than declared tensors") }
        guard written + bytes.count <= t.byteCount else {
            throw ModelFileError(.io, path, "tensor \(t.name): more than \(t.byteCount) bytes written")
        }
        try io { try file.write(bytes) }
        written += bytes.count
        if written == t.byteCount {
            try io { try file.writeZeros(GGUFFile.alignUp(t.byteCount, alignment) - t.byteCount) }
            written = 0
            next += 1
        }
    }

    /// Checks every tensor was written, fsyncs and renames into place.
    public func finish() throws {
        guard next == tensors.count else {
            throw ModelFileError(.io, path, "only \(next) of \(tensors.count) tensors were written")
        }
        try io { try file.commit() }
    }

    private func io(_ body: () throws -> Void) throws {
        do { try body() } catch { throw ExportDestination.ioError(error, path) }
    }

    // MARK: - Encoding

    static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func putString(_ s: String, _ out: inout [UInt8]) {
        put(UInt64(s.utf8.count), &out)
        out += s.utf8
    }

    static func putValue(_ v: GGUFValue, _ out: inout [UInt8]) {
        switch v {
        case .uint8(let x): put(x, &out)
        case .int8(let x): put(x, &out)
        case .uint16(let x): put(x, &out)
        case .int16(let x): put(x, &out)
        case .uint32(let x): put(x, &out)
        case .int32(let x): put(x, &out)
        case .uint64(let x): put(x, &out)
        case .int64(let x): put(x, &out)
        case .float32(let x): put(x.bitPattern, &out)
        case .float64(let x): put(x.bitPattern, &out)
        case .bool(let b): out.append(b ? 1 : 0)
        case .string(let s): putString(s, &out)
        case .array(let type, let elements):
            put(type.rawValue, &out)
            put(UInt64(elements.count), &out)
            for e in elements {
                precondition(e.type == type, "GGUF array of \(type) holds a \(e.type)")
                putValue(e, &out)
            }
        }
    }
}
