// The read side of MTF: maps a file read-only, validates the whole header before trusting a byte, and
// hands out zero-copy tensor views that stay valid while the file object lives.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A non-owning view of one tensor inside a mapping.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    public let bytes: UnsafeRawBufferPointer

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
    public var rows: Int { shape.count >= 2 ? shape.dropLast().reduce(1, *) : 1 }
    public var cols: Int { shape.last ?? 1 }
    public var rowBytes: Int { dtype.rowBytes(count: cols)! }

    /// Pointer to the first byte of `row`.
    public func row(_ row: Int) -> UnsafeRawPointer {
        precondition(row >= 0 && row < rows)
        return bytes.baseAddress! + row * rowBytes
    }

    /// The data as f32 when the tensor is f32 (nil otherwise).
    public var floats: UnsafePointer<Float>? {
        dtype == .f32 ? bytes.baseAddress!.assumingMemoryBound(to: Float.self) : nil
    }

    /// Decodes rows [start, start+count) into `dst` (count × cols floats).
    public func decodeRows(_ start: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(start >= 0 && count >= 0 && start + count <= rows)
        dtype.decode(bytes.baseAddress! + start * rowBytes, into: dst, count: count * cols)
    }

    /// The whole tensor decoded to f32 (allocates; for tests, inspection and small tensors).
    public func toFloats() -> [Float] {
        [Float](unsafeUninitializedCapacity: info.elementCount) { buf, n in
            dtype.decode(bytes.baseAddress!, into: buf.baseAddress!, count: info.elementCount)
            n = info.elementCount
        }
    }
}

public final class MappedTensorFile: @unchecked Sendable {
    public let path: String
    public let metadata: MTFMetadata
    public let tensors: [TensorInfo]
    public let fingerprint: String
    public let fileSize: Int
    /// The opened file's device, inode, size and modification time: changes when its bytes are rewritten
    /// (the reference cache verifies checksums once per identity).
    public let identity: String
    public let alignment: Int
    private let base: UnsafeMutableRawPointer?
    private let dataOffset: Int
    private let index: [String: Int]

    public var config: ModelConfig { metadata.config }

    /// Opens and validates `path`. With `requireArchitectureTensors` every tensor the config needs must
    /// be present with the right shape.
    public init(path: String, requireArchitectureTensors: Bool = true) throws {
        self.path = path
        // O_NONBLOCK: a FIFO given as the model must not block open() forever; it is refused below.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw TensorFileError.io(path: path, what: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TensorFileError.io(path: path, what: "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw TensorFileError.io(path: path, what: "is \(fileKind(st.st_mode)), not an MTF file")
        }
        let size = Int(st.st_size)
        fileSize = size
        identity = "\(st.st_dev)-\(st.st_ino)-\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        guard size >= MTF.prefixSize else {
            throw TensorFileError.truncated(path: path, expected: UInt64(MTF.prefixSize), actual: UInt64(size))
        }
        guard let m = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            throw TensorFileError.io(path: path, what: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = m
        var ok = false
        defer { if !ok { munmap(m, size) } }

        let raw = UnsafeRawBufferPointer(start: m, count: size)
        guard Array(raw[0..<8]) == MTF.magic else { throw TensorFileError.badMagic(path: path) }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        let version = u32(8)
        guard version == MTF.version else { throw TensorFileError.unsupportedVersion(path: path, found: version) }
        guard u32(12) == 0 else { throw TensorFileError.badHeader(path: path, what: "unknown flags \(u32(12)) at byte 12") }
        let headerLength = u64(16)
        let dataOffset = u64(24)
        let dataLength = u64(32)
        let alignment = u32(40)
        let headerHash = u64(48)
        guard alignment >= 64, alignment & (alignment - 1) == 0, alignment <= 1 << 20 else {
            throw TensorFileError.badHeader(path: path, what: "alignment \(alignment) at byte 40 is not a power of two in 64...1M")
        }
        guard headerLength > 0, headerLength <= MTF.maxHeaderLength else {
            throw TensorFileError.badHeader(path: path, what: "header length \(headerLength) at byte 16 is out of range")
        }
        guard dataOffset >= UInt64(MTF.prefixSize) + headerLength, dataOffset % UInt64(alignment) == 0 else {
            throw TensorFileError.badHeader(path: path, what: "data offset \(dataOffset) at byte 24 overlaps the header or is unaligned")
        }
        let (end, overflow) = dataOffset.addingReportingOverflow(dataLength)
        guard !overflow else { throw TensorFileError.badHeader(path: path, what: "data length \(dataLength) at byte 32 overflows") }
        guard end <= UInt64(size) else { throw TensorFileError.truncated(path: path, expected: end, actual: UInt64(size)) }
        guard end == UInt64(size) else {
            throw TensorFileError.badHeader(path: path, what: "\(UInt64(size) - end) trailing bytes after the data section")
        }
        let json = UnsafeRawBufferPointer(rebasing: raw[MTF.prefixSize..<(MTF.prefixSize + Int(headerLength))])
        guard XXHash64.hash(json) == headerHash else { throw TensorFileError.headerChecksum(path: path) }
        do { try HeaderScan.check(json) } catch { throw TensorFileError.badHeader(path: path, what: error.description) }
        let header: MTFHeader
        do {
            header = try MTFJSON.decoder().decode(MTFHeader.self, from: Data(json))
        } catch {
            throw TensorFileError.badHeader(path: path, what: "JSON: \(Self.describe(error))")
        }
        do {
            try header.metadata.config.validate()
        } catch {
            throw TensorFileError.badHeader(path: path, what: "config: \(error)")
        }
        try Self.validateTable(header.tensors, dataLength: dataLength, alignment: UInt64(alignment), path: path)
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        if requireArchitectureTensors {
            for (name, shape) in header.metadata.config.requiredTensors {
                guard let i = index[name] else { throw TensorFileError.missingTensor(path: path, tensor: name) }
                guard header.tensors[i].shape == shape else {
                    throw TensorFileError.badTensor(
                        path: path, tensor: name, what: "shape \(header.tensors[i].shape), the config needs \(shape)")
                }
            }
        }
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.index = index
        self.dataOffset = Int(dataOffset)
        self.alignment = Int(alignment)
        self.fingerprint = modelFingerprint(config: header.metadata.config, tensors: header.tensors)
        ok = true
    }

    deinit {
        if let base { munmap(base, fileSize) }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing key \((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            return "\(ctx.codingPath.map(\.stringValue).joined(separator: ".")) \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }

    /// Offsets in bounds and aligned, no overlaps, shape × dtype = length, names unique.
    static func validateTable(_ tensors: [TensorInfo], dataLength: UInt64, alignment: UInt64, path: String)
        throws
    {
        var seen = Set<String>()
        var ranges: [(UInt64, UInt64, String)] = []
        for t in tensors {
            guard !t.name.isEmpty, t.name.utf8.count <= 1024 else {
                throw TensorFileError.badTensor(path: path, tensor: t.name, what: "name is empty or too long")
            }
            guard seen.insert(t.name).inserted else { throw TensorFileError.badTensor(path: path, tensor: t.name, what: "duplicate name") }
            guard t.shape.count >= 1, t.shape.count <= 4, t.shape.allSatisfy({ $0 > 0 && $0 <= 1 << 32 }) else {
                throw TensorFileError.badTensor(path: path, tensor: t.name, what: "absurd shape \(t.shape)")
            }
            guard let bytes = t.dtype.byteCount(shape: t.shape) else {
                throw TensorFileError.badTensor(
                    path: path, tensor: t.name, what: "shape \(t.shape) does not fit dtype \(t.dtype.rawValue)")
            }
            guard UInt64(bytes) == t.length else {
                throw TensorFileError.badTensor(
                    path: path, tensor: t.name,
                    what: "length \(t.length) but shape \(t.shape) × \(t.dtype.rawValue) needs \(bytes)")
            }
            guard t.offset % alignment == 0 else {
                throw TensorFileError.badTensor(path: path, tensor: t.name, what: "offset \(t.offset) is not \(alignment)-aligned")
            }
            let (end, o) = t.offset.addingReportingOverflow(t.length)
            guard !o, end <= dataLength else {
                throw TensorFileError.badTensor(
                    path: path, tensor: t.name, what: "bytes \(t.offset)..<\(t.offset &+ t.length) run past the data section (\(dataLength))")
            }
            guard t.xxh64.count == 16, UInt64(t.xxh64, radix: 16) != nil else {
                throw TensorFileError.badTensor(path: path, tensor: t.name, what: "checksum \"\(t.xxh64)\" is not 16 hex digits")
            }
            ranges.append((t.offset, end, t.name))
        }
        ranges.sort { $0.0 < $1.0 }
        for i in ranges.indices.dropFirst() where ranges[i].0 < ranges[i - 1].1 {
            throw TensorFileError.badTensor(path: path, tensor: ranges[i].2, what: "overlaps tensor \(ranges[i - 1].2)")
        }
    }

    // MARK: - Access

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func info(_ name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    public func view(_ name: String) throws -> TensorView {
        guard let i = index[name] else { throw TensorFileError.noSuchTensor(path: path, tensor: name) }
        return view(tensors[i])
    }

    public func view(_ info: TensorInfo) -> TensorView {
        let start = base! + dataOffset + Int(info.offset)
        return TensorView(info: info, bytes: UnsafeRawBufferPointer(start: start, count: Int(info.length)))
    }

    /// Recomputes every tensor checksum; throws on the first mismatch.
    public func verify(progress: ((Int, Int) -> Void)? = nil) throws {
        for (i, t) in tensors.enumerated() {
            let v = view(t)
            guard XXHash64.hex(XXHash64.hash(v.bytes)) == t.xxh64 else {
                throw TensorFileError.checksumMismatch(path: path, tensor: t.name)
            }
            progress?(i + 1, tensors.count)
        }
    }

    public enum Advice { case willNeed, dontNeed, sequential }

    /// Tells the kernel how a tensor's pages will be used (prefetch the next layer, drop the last).
    public func advise(_ info: TensorInfo, _ advice: Advice) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = dataOffset + Int(info.offset)
        let aligned = start & ~(page - 1)
        let length = start + Int(info.length) - aligned
        let flag: Int32 =
            switch advice {
            case .willNeed: MADV_WILLNEED
            case .dontNeed: MADV_DONTNEED
            case .sequential: MADV_SEQUENTIAL
            }
        _ = madvise(base! + aligned, length, flag)
    }
}
