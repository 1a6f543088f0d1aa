// The compressed checkpoint container (formats/adapter.md): an uncompressed 64-byte prefix, then one
// zstd frame holding a JSON manifest and f32 tensors stored byte-plane shuffled. The manifest's `state`
// is whatever the trainer needs to resume; this file only knows the container.

import Foundation
import TensorFile

public enum CheckpointError: Error, CustomStringConvertible, Sendable {
    case io(path: String, what: String)
    case badMagic(path: String)
    case newerVersion(path: String, found: UInt32)
    case olderVersion(path: String, found: UInt32)
    case truncated(path: String, expected: UInt64, actual: UInt64)
    case corrupted(path: String, what: String)
    case badManifest(path: String, what: String)

    public var description: String {
        switch self {
        case .io(let p, let w): "\(p): \(w)"
        case .badMagic(let p): "\(p): not a LeanDPO checkpoint (bad magic at byte 0)"
        case .newerVersion(let p, let v):
            "\(p): checkpoint format version \(v) is newer than this build reads (\(CheckpointFile.version)); HINT: upgrade leandpo"
        case .olderVersion(let p, let v):
            "\(p): checkpoint format version \(v) was written by an older leandpo (its options use the nested layout format 2 replaced); HINT: resume or export it with the leandpo that wrote it"
        case .truncated(let p, let e, let a): "\(p): truncated checkpoint: expected \(e) bytes, file has \(a)"
        case .corrupted(let p, let w): "\(p): corrupted checkpoint: \(w)"
        case .badManifest(let p, let w): "\(p): bad checkpoint manifest: \(w)"
        }
    }
}

public struct CheckpointTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "checkpoint tensor \(name): shape does not match values")
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// Sizes of a written or read checkpoint.
public struct CheckpointInfo: Sendable {
    public var version: UInt32
    public var fileBytes: UInt64
    public var rawBytes: UInt64
    public var compressedBytes: UInt64
    public var compressionRatio: Double { Double(rawBytes) / Double(max(1, compressedBytes)) }
}

public enum CheckpointFile {
    public static let magic: [UInt8] = Array("LeanCKPT".utf8)
    /// 2: the manifest's `arguments` are the flat option object run.json holds (1 had a nested `lora`).
    public static let version: UInt32 = 2
    static let prefixSize = 64

    struct TensorEntry: Codable {
        var name: String
        var shape: [Int]
        var offset: Int
        var count: Int
    }

    struct Manifest<State: Codable>: Codable {
        var state: State
        var tensors: [TensorEntry]
    }

    // MARK: - Write

    /// A tensor to write, read in place from the caller's memory (no copy is made).
    public struct Source {
        public var name: String
        public var shape: [Int]
        public var values: UnsafeBufferPointer<Float>
        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            precondition(shape.reduce(1, *) == values.count, "checkpoint tensor \(name): shape does not match values")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Writes atomically (temporary file, fsync, rename, directory fsync). An existing file at `path`
    /// is untouched if anything fails.
    @discardableResult
    public static func write<State: Codable>(path: String, state: State, tensors: [CheckpointTensor], level: Int32 = 3)
        throws -> CheckpointInfo
    {
        func go(_ i: Int, _ sources: [Source]) throws -> CheckpointInfo {
            if i == tensors.count { return try write(path: path, state: state, sources: sources, level: level) }
            return try tensors[i].values.withUnsafeBufferPointer {
                try go(i + 1, sources + [Source(name: tensors[i].name, shape: tensors[i].shape, values: $0)])
            }
        }
        return try go(0, [])
    }

    /// Streams the payload through zstd into the file: memory stays at a few small buffers whatever the
    /// adapter's size. The prefix is written last, once the compressed length and checksum are known.
    @discardableResult
    public static func write<State: Codable>(path: String, state: State, sources: [Source], level: Int32 = 3)
        throws -> CheckpointInfo
    {
        var entries: [TensorEntry] = []
        var offset = 0
        for t in sources {
            entries.append(TensorEntry(name: t.name, shape: t.shape, offset: offset, count: t.values.count))
            offset += t.values.count * 4
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let manifest = [UInt8](try encoder.encode(Manifest(state: state, tensors: entries)))
        let dataStart = (manifest.count + 63) / 64 * 64
        let rawLength = dataStart + offset

        let file = try AtomicFileWriter(path: path)
        try file.writeZeros(prefixSize)
        var hasher = XXHash64()
        var compressed = 0
        let zstd = try ZstdCompressor(level: level, pledgedSize: rawLength) { chunk in
            hasher.update(chunk)
            compressed += chunk.count
            try file.write(chunk)
        }
        try (manifest + [UInt8](repeating: 0, count: dataStart - manifest.count)).withUnsafeBytes { try zstd.write($0) }
        // Byte plane k of a tensor is byte k of every float; emitted in chunks through one buffer.
        let chunk = 1 << 16
        var plane = [UInt8](repeating: 0, count: chunk)
        for t in sources {
            let n = t.values.count
            let bytes = UnsafeRawBufferPointer(t.values)
            for k in 0..<4 {
                var start = 0
                while start < n {
                    let m = min(chunk, n - start)
                    try plane.withUnsafeMutableBytes { buf in
                        for i in 0..<m { buf[i] = bytes[4 * (start + i) + k] }
                        try zstd.write(UnsafeRawBufferPointer(rebasing: buf[0..<m]))
                    }
                    start += m
                }
            }
        }
        try zstd.finish()

        var prefix = magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { prefix += $0 } }
        put(version)
        put(UInt32(0))
        put(UInt64(compressed))
        put(UInt64(rawLength))
        put(hasher.finalize())
        put(UInt64(manifest.count))
        put(UInt64(0))
        put(UInt64(0))
        try file.patch(prefix, at: 0)
        try file.commit()
        return CheckpointInfo(
            version: version, fileBytes: UInt64(prefixSize + compressed), rawBytes: UInt64(rawLength),
            compressedBytes: UInt64(compressed))
    }

    // MARK: - Read

    /// Reads and fully verifies a checkpoint: prefix, payload checksum, zstd frame checksum, manifest.
    public static func read<State: Codable>(path: String, as: State.Type) throws -> (
        state: State, tensors: [String: CheckpointTensor], info: CheckpointInfo
    ) {
        let bytes: [UInt8]
        do { bytes = try RegularFile.read(path) } catch { throw CheckpointError.io(path: path, what: error.reason) }
        guard bytes.count >= prefixSize else {
            throw CheckpointError.truncated(path: path, expected: UInt64(prefixSize), actual: UInt64(bytes.count))
        }
        guard Array(bytes[0..<8]) == magic else { throw CheckpointError.badMagic(path: path) }
        func u32(_ o: Int) -> UInt32 { bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt32.self)) } }
        func u64(_ o: Int) -> UInt64 { bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: UInt64.self)) } }
        let v = u32(8)
        guard v <= version else { throw CheckpointError.newerVersion(path: path, found: v) }
        guard v >= 1 else { throw CheckpointError.corrupted(path: path, what: "unknown version \(v) at byte 8") }
        guard v == version else { throw CheckpointError.olderVersion(path: path, found: v) }
        guard u32(12) == 0, u64(48) == 0, u64(56) == 0 else {
            throw CheckpointError.corrupted(path: path, what: "reserved prefix bytes (12..15, 48..63) are not zero")
        }
        let payloadLength = u64(16)
        let rawLength = u64(24)
        let manifestLength = u64(40)
        guard payloadLength <= UInt64(Int32.max), rawLength <= 1 << 40, manifestLength <= rawLength else {
            throw CheckpointError.corrupted(path: path, what: "absurd lengths in the prefix (bytes 16..47)")
        }
        let expected = UInt64(prefixSize) + payloadLength
        guard UInt64(bytes.count) >= expected else {
            throw CheckpointError.truncated(path: path, expected: expected, actual: UInt64(bytes.count))
        }
        guard UInt64(bytes.count) == expected else {
            throw CheckpointError.corrupted(path: path, what: "\(UInt64(bytes.count) - expected) trailing bytes")
        }
        let payload = bytes[prefixSize...]
        let hash = payload.withUnsafeBytes { XXHash64.hash($0) }
        guard hash == u64(32) else { throw CheckpointError.corrupted(path: path, what: "payload checksum mismatch") }
        // The frame may declare any content size: it must equal R, which zstd can only reach from P
        // compressed bytes up to ZstdDecompressor.maxRatio, and the manifest's tensors must add up to it,
        // before anything the size of the content is allocated; the content is then streamed into them.
        let declared = payload.withUnsafeBytes { ZstdDecompressor.declaredSize($0) }
        guard let declared else { throw CheckpointError.corrupted(path: path, what: "zstd: not a complete frame") }
        guard declared == rawLength else {
            throw CheckpointError.corrupted(path: path, what: "zstd: frame holds \(declared) bytes, expected \(rawLength)")
        }
        let (ratioBound, ratioOverflow) = payloadLength.multipliedReportingOverflow(by: ZstdDecompressor.maxRatio)
        guard ratioOverflow || rawLength <= ratioBound else {
            throw CheckpointError.corrupted(
                path: path, what: "the frame declares \(rawLength) bytes of content in \(payloadLength) compressed bytes, more than zstd can hold")
        }
        var tensors: [String: CheckpointTensor] = [:]
        let manifest: Manifest<State> = try payload.withUnsafeBytes { frame in
            let zstd: ZstdDecompressor
            do { zstd = try ZstdDecompressor(frame) } catch { throw CheckpointError.corrupted(path: path, what: "\(error)") }
            func read(_ buffer: UnsafeMutableRawBufferPointer) throws {
                do { try zstd.read(into: buffer) } catch { throw CheckpointError.corrupted(path: path, what: "\(error)") }
            }
            let dataStart = (Int(manifestLength) + 63) / 64 * 64
            var head = [UInt8](repeating: 0, count: min(dataStart, Int(rawLength)))
            try head.withUnsafeMutableBytes { try read($0) }
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let manifest: Manifest<State>
            do {
                manifest = try decoder.decode(Manifest<State>.self, from: Data(head[0..<Int(manifestLength)]))
            } catch {
                throw CheckpointError.badManifest(path: path, what: "\(error)")
            }
            // Every size is checked arithmetic: a crafted manifest's counts and shapes may be near 2^62.
            var running = 0
            for e in manifest.tensors {
                let product = e.shape.reduce(Optional(1)) { p, d in
                    guard let p, d >= 0 else { return nil }
                    let (m, o) = p.multipliedReportingOverflow(by: d)
                    return o ? nil : m
                }
                let (bytes, o1) = e.count.multipliedReportingOverflow(by: 4)
                let (end, o2) = running.addingReportingOverflow(bytes)
                guard e.count >= 0, product == e.count, !o1, !o2, e.offset == running, dataStart + end <= Int(rawLength) else {
                    throw CheckpointError.badManifest(path: path, what: "tensor \(e.name) lies outside the payload")
                }
                running = end
            }
            guard dataStart + running == Int(rawLength) else {
                throw CheckpointError.badManifest(
                    path: path, what: "the tensors hold \(running) bytes, the payload \(Int(rawLength) - dataStart) after the manifest")
            }
            var shuffled = [UInt8](repeating: 0, count: manifest.tensors.map { $0.count * 4 }.max() ?? 0)
            for e in manifest.tensors {
                var values = [Float](repeating: 0, count: e.count)
                try shuffled.withUnsafeMutableBytes { buf in
                    let part = UnsafeMutableRawBufferPointer(rebasing: buf[0..<(e.count * 4)])
                    try read(part)
                    values.withUnsafeMutableBytes { dst in unshuffle(UnsafeRawBufferPointer(part), into: dst.baseAddress!) }
                }
                guard tensors.updateValue(CheckpointTensor(name: e.name, shape: e.shape, values: values), forKey: e.name) == nil else {
                    throw CheckpointError.badManifest(path: path, what: "tensor \(e.name) appears twice")
                }
            }
            do { try zstd.finish() } catch { throw CheckpointError.corrupted(path: path, what: "\(error)") }
            return manifest
        }
        _ = manifest.tensors
        let info = CheckpointInfo(
            version: v, fileBytes: UInt64(bytes.count), rawBytes: rawLength, compressedBytes: payloadLength)
        return (manifest.state, tensors, info)
    }

    /// True when the file starts with the checkpoint magic.
    public static func looksLikeCheckpoint(_ path: String) -> Bool {
        (try? RegularFile.readPrefix(path, count: 8)) == magic
    }

    // MARK: - Byte-plane shuffle

    // Byte k of every float is stored together (plane k), which lets zstd find the redundancy in the
    // exponents and signs that it cannot see in interleaved floats; `write` emits the planes.

    static func unshuffle(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawPointer) {
        let n = src.count / 4
        for i in 0..<n {
            for k in 0..<4 { dst.storeBytes(of: src[k * n + i], toByteOffset: 4 * i + k, as: UInt8.self) }
        }
    }
}
