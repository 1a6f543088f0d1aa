// An MTF file as a ModelSource, so every exporter (MTF, Hugging Face, GGUF) reads a base the same way:
// one tensor at a time decoded to f32 (quantized tensors dequantized), passed through an optional
// per-tensor transform (the LoRA merge) and its pages dropped from the resident set once read.

import Foundation
import TensorFile

#if canImport(Glibc)
    import Glibc
#endif

/// Changes one tensor in place after it is decoded: (Hugging Face name, its f32 values).
public typealias TensorTransform = (_ name: String, _ values: UnsafeMutableBufferPointer<Float>) throws -> Void

public final class MTFModelSource: ModelSource {
    public let file: MappedTensorFile
    public let metadata: MTFMetadata
    public let tensors: [SourceTensor]
    private let transform: TensorTransform?

    /// `transform`, when given, sees every tensor after decoding. The metadata's provenance records the
    /// base file as an "mtf" source (keeping its `base_model`); `sourceXXH64` is the base file's checksum
    /// (computed when nil).
    public init(file: MappedTensorFile, transform: TensorTransform? = nil, sourceXXH64: String? = nil) throws {
        self.file = file
        self.transform = transform
        var metadata = file.metadata
        metadata.provenance = Provenance(
            sourceFormat: "mtf", sourceName: (file.path as NSString).lastPathComponent,
            sourceXxh64: try sourceXXH64 ?? fileXXH64(file.path), converter: Converter.name, converterVersion: Converter.version,
            baseModel: file.metadata.provenance.baseModel)
        self.metadata = metadata
        tensors = file.tensors.map { SourceTensor(name: $0.name, shape: $0.shape, sourceDType: $0.dtype.rawValue) }
    }

    public func load(_ t: SourceTensor, into dst: UnsafeMutablePointer<Float>) throws {
        guard let info = file.info(t.name) else { throw ModelFileError(.missing, file.path, "no tensor \(t.name) in this file") }
        // Decode a few MiB at a time and drop those pages at once, so the mapped tensor and its decoded
        // copy are never both resident in full.
        let view = file.view(info)
        let chunkRows = max(1, (4 << 20) / max(1, view.rowBytes))
        var row = 0
        while row < view.rows {
            let n = min(chunkRows, view.rows - row)
            view.decodeRows(row, count: n, into: dst + row * view.cols)
            Self.release(view.row(row), count: n * view.rowBytes)
            row += n
        }
        try transform?(t.name, UnsafeMutableBufferPointer(start: dst, count: info.elementCount))
    }

    /// Drops the pages under [start, start+count) from this process (they stay in the page cache).
    static func release(_ start: UnsafeRawPointer, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let begin = Int(bitPattern: start) & ~(page - 1)
        let end = Int(bitPattern: start) + count
        guard end > begin, let p = UnsafeMutableRawPointer(bitPattern: begin) else { return }
        _ = madvise(p, end - begin, MADV_DONTNEED)
    }
}
