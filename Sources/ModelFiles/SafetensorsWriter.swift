// Streams tensors into a safetensors file through AtomicFileWriter: the tensor list is declared first (the
// header is sorted as the reference writer does: by descending dtype alignment, then name; padded with
// spaces to 8 bytes; __metadata__ {"format":"pt"}), then tensors are written one at a time in that order.

import Foundation
import JSON
import TensorFile

public final class SafetensorsWriter {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let begin: Int
        public let end: Int
    }

    public let path: String
    /// Data order (the header's sorted order).
    public let entries: [Entry]
    private let file: AtomicFileWriter
    private var next = 0
    private var written = 0

    /// The safetensors name of an MTF float dtype.
    public static func dtypeName(_ d: DType) -> String? {
        switch d {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        default: nil
        }
    }

    public init(path: String, tensors: [TensorSpec], metadata: [String: String] = ["format": "pt"]) throws {
        self.path = path
        var names = Set<String>()
        for t in tensors {
            guard names.insert(t.name).inserted else { throw ModelFileError(.malformed, path, "duplicate tensor \(t.name)") }
            guard Self.dtypeName(t.dtype) != nil else {
                throw ModelFileError(.unsupported, path, "tensor \(t.name): safetensors export supports f32, f16 and bf16, not \(t.dtype.rawValue)")
            }
            guard t.name != "__metadata__", t.dtype.byteCount(shape: t.shape) != nil else {
                throw ModelFileError(.malformed, path, "tensor \(t.name): invalid name or shape \(t.shape)")
            }
        }
        // The reference writer orders by dtype descending (its enum runs in increasing size), then name.
        let sorted = tensors.sorted { a, b in
            a.dtype.blockBytes != b.dtype.blockBytes
                ? a.dtype.blockBytes > b.dtype.blockBytes
                : (a.dtype.blockBytes == 2 && a.dtype != b.dtype ? a.dtype == .bf16 : a.name < b.name)
        }
        var offset = 0
        var entries: [Entry] = []
        for t in sorted {
            let n = t.dtype.byteCount(shape: t.shape)!
            entries.append(Entry(name: t.name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + n))
            offset += n
        }
        self.entries = entries
        var header = Self.header(entries, metadata: metadata)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        file = try Self.open(path)
        var n = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &n) { try file.write($0) }
        try file.write(header)
    }

    private static func open(_ path: String) throws -> AtomicFileWriter {
        do { return try AtomicFileWriter(path: path) } catch { throw ModelFileError(.io, path, "\(error)") }
    }

    /// JSON with keys in data order after __metadata__, as the reference writer emits it.
    static func header(_ entries: [Entry], metadata: [String: String]) -> [UInt8] {
        func quote(_ s: String) -> String {
            var out = ""
            JSONString.append(s, to: &out)
            return out
        }
        var parts: [String] = []
        if !metadata.isEmpty {
            parts.append(
                "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { "\(quote($0.key)):\(quote($0.value))" }.joined(separator: ",") + "}")
        }
        for e in entries {
            parts.append(
                "\(quote(e.name)):{\"dtype\":\"\(dtypeName(e.dtype)!)\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(e.begin),\(e.end)]}"
            )
        }
        return Array(("{" + parts.joined(separator: ",") + "}").utf8)
    }

    /// The tensor the writer expects next, nil when all are written.
    public var nextTensor: Entry? { next < entries.count ? entries[next] : nil }

    /// Writes the next tensor from f32 values, encoded to its declared dtype.
    public func write(name: String, floats: UnsafeBufferPointer<Float>) throws {
        guard let e = nextTensor, e.name == name else {
            throw ModelFileError(.io, path, "tensor \(name) written out of order (expected \(nextTensor?.name ?? "none"))")
        }
        guard floats.count == e.shape.reduce(1, *) else {
            throw ModelFileError(.io, path, "tensor \(name): \(floats.count) values for shape \(e.shape)")
        }
        let chunk = 1 << 18
        var scratch = [UInt8](repeating: 0, count: min(max(floats.count, 1), chunk) * e.dtype.blockBytes)
        var i = 0
        while i < floats.count {
            let n = min(chunk, floats.count - i)
            try scratch.withUnsafeMutableBytes { dst in
                e.dtype.encode(floats.baseAddress! + i, into: dst.baseAddress!, count: n)
                try writeBytes(UnsafeRawBufferPointer(rebasing: dst[0..<(n * e.dtype.blockBytes)]))
            }
            i += n
        }
        next += 1
    }

    public func write(name: String, floats: [Float]) throws {
        try floats.withUnsafeBufferPointer { try write(name: name, floats: $0) }
    }

    private func writeBytes(_ b: UnsafeRawBufferPointer) throws {
        do { try file.write(b) } catch { throw ModelFileError(.io, path, "\(error)") }
    }

    /// Checks every tensor was written, fsyncs and renames into place.
    public func finish() throws {
        guard next == entries.count else {
            throw ModelFileError(.io, path, "only \(next) of \(entries.count) tensors were written")
        }
        do { try file.commit() } catch { throw ModelFileError(.io, path, "\(error)") }
    }
}
