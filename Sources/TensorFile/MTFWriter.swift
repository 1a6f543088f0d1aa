// The write side of MTF: the tensor list is declared up front (so offsets are known), then tensors are
// streamed one at a time in that order; the header's checksums are filled in at the end and the file is
// committed atomically. Peak memory is whatever the caller holds for one tensor.

import Foundation

public struct TensorSpec: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}

public final class MTFWriter {
    public let path: String
    private let file: AtomicFileWriter
    private var metadata: MTFMetadata
    private var table: [TensorInfo]
    private let alignment: Int
    private let dataOffset: UInt64
    private let headerLength: Int
    private var next = 0
    private var hasher = XXHash64()
    private var written: UInt64 = 0

    public init(path: String, metadata: MTFMetadata, tensors: [TensorSpec], alignment: Int = MTF.defaultAlignment)
        throws
    {
        precondition(alignment >= 64 && alignment & (alignment - 1) == 0)
        self.path = path
        self.metadata = metadata
        self.alignment = alignment
        var offset: UInt64 = 0
        var table: [TensorInfo] = []
        var names = Set<String>()
        for s in tensors {
            guard names.insert(s.name).inserted else { throw TensorFileError.writer(path: path, what: "duplicate tensor \(s.name)") }
            guard let n = s.dtype.byteCount(shape: s.shape), !s.shape.isEmpty else {
                throw TensorFileError.writer(path: path, what: "tensor \(s.name): shape \(s.shape) does not fit \(s.dtype.rawValue)")
            }
            table.append(
                TensorInfo(
                    name: s.name, dtype: s.dtype, shape: s.shape, offset: offset, length: UInt64(n),
                    xxh64: "0000000000000000"))
            offset = Self.alignUp(offset + UInt64(n), alignment)
        }
        self.table = table
        let header = try Self.encodeHeader(metadata, table, path: path)
        guard header.count <= MTF.maxHeaderLength else {
            throw TensorFileError.writer(path: path, what: "the header would take \(header.count) bytes, more than MTF's \(MTF.maxHeaderLength)")
        }
        headerLength = header.count
        dataOffset = Self.alignUp(UInt64(MTF.prefixSize + header.count), alignment)
        file = try AtomicFileWriter(path: path)
        // Placeholder prefix and header; both are rewritten by finish() once checksums are known.
        try file.writeZeros(Int(dataOffset))
    }

    static func alignUp(_ v: UInt64, _ a: Int) -> UInt64 { (v + UInt64(a) - 1) / UInt64(a) * UInt64(a) }

    static func encodeHeader(_ metadata: MTFMetadata, _ table: [TensorInfo], path: String) throws
        -> [UInt8]
    {
        do {
            return Array(try MTFJSON.encoder().encode(MTFHeader(metadata: metadata, tensors: table)))
        } catch {
            throw TensorFileError.writer(path: path, what: "cannot encode header: \(error)")
        }
    }

    /// The name the writer expects next, nil when all tensors are written.
    public var nextTensor: TensorSpec? {
        next < table.count ? TensorSpec(name: table[next].name, dtype: table[next].dtype, shape: table[next].shape) : nil
    }

    /// Appends bytes of the current tensor (may be called several times per tensor).
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard next < table.count else { throw TensorFileError.writer(path: path, what: "more data than declared tensors") }
        let t = table[next]
        guard written + UInt64(bytes.count) <= t.length else {
            throw TensorFileError.writer(path: path, what: "tensor \(t.name): more than \(t.length) bytes written")
        }
        try file.write(bytes)
        hasher.update(bytes)
        written += UInt64(bytes.count)
        if written == t.length {
            table[next].xxh64 = XXHash64.hex(hasher.finalize())
            hasher = XXHash64()
            written = 0
            next += 1
            let pad = Int(Self.alignUp(t.offset + t.length, alignment) - (t.offset + t.length))
            if next < table.count { try file.writeZeros(pad) }
        }
    }

    /// Writes a whole tensor given as f32, encoded to its declared dtype (f32, f16 or bf16).
    public func write(name: String, floats: UnsafeBufferPointer<Float>) throws {
        guard let spec = nextTensor, spec.name == name else {
            throw TensorFileError.writer(path: path, what: "tensor \(name) written out of order (expected \(nextTensor?.name ?? "none"))")
        }
        guard floats.count == table[next].elementCount else {
            throw TensorFileError.writer(path: path, what: "tensor \(name): \(floats.count) values for shape \(spec.shape)")
        }
        guard floats.count % spec.dtype.blockSize == 0 else {
            throw TensorFileError.writer(path: path, what: "tensor \(name): \(floats.count) values are not whole \(spec.dtype.rawValue) blocks")
        }
        let chunk = 1 << 20  // a multiple of every block size
        var scratch = [UInt8](
            repeating: 0, count: (min(floats.count, chunk) + spec.dtype.blockSize - 1) / spec.dtype.blockSize * spec.dtype.blockBytes)
        var i = 0
        while i < floats.count {
            let n = min(chunk, floats.count - i)
            let bytes = n / spec.dtype.blockSize * spec.dtype.blockBytes
            try scratch.withUnsafeMutableBytes { dst in
                spec.dtype.encode(floats.baseAddress! + i, into: dst.baseAddress!, count: n)
                try append(UnsafeRawBufferPointer(rebasing: dst[0..<bytes]))
            }
            i += n
        }
    }

    public func write(name: String, floats: [Float]) throws {
        try floats.withUnsafeBufferPointer { try write(name: name, floats: $0) }
    }

    /// Writes raw bytes already in the declared dtype (e.g. q4_1 blocks copied from a GGUF file).
    public func write(name: String, raw: UnsafeRawBufferPointer) throws {
        guard let spec = nextTensor, spec.name == name else {
            throw TensorFileError.writer(path: path, what: "tensor \(name) written out of order (expected \(nextTensor?.name ?? "none"))")
        }
        guard UInt64(raw.count) == table[next].length else {
            throw TensorFileError.writer(path: path, what: "tensor \(name): \(raw.count) bytes, expected \(table[next].length)")
        }
        try append(raw)
    }

    /// Fills in the header, fsyncs and renames into place. Returns the base fingerprint.
    @discardableResult
    public func finish() throws -> String {
        guard next == table.count else {
            throw TensorFileError.writer(path: path, what: "only \(next) of \(table.count) tensors were written")
        }
        let header = try Self.encodeHeader(metadata, table, path: path)
        precondition(header.count == headerLength, "header length changed with checksums")
        let dataLength = (table.last.map { $0.offset + $0.length }) ?? 0
        let prefix = MTFPrefix(
            headerLength: UInt64(header.count), dataOffset: dataOffset, dataLength: dataLength,
            alignment: UInt32(alignment), headerXXH64: XXHash64.hash(header))
        try file.patch(prefix.encoded() + header, at: 0)
        try file.commit()
        return modelFingerprint(config: metadata.config, tensors: table)
    }
}
