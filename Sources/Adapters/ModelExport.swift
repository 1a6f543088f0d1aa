// `leandpo export` without the printing: a base MTF plus an adapter (checkpoint, PEFT directory or
// training output directory) → a merged model (MTF, Hugging Face directory, GGUF) or the unmerged PEFT
// adapter. The merge runs tensor by tensor while streaming (decode one base tensor, add scale·B·A,
// encode, write, drop), so peak memory stays near one tensor; nothing partial is left on failure. The
// file formats themselves are ModelFiles' (Converter, HFExporter, GGUFExporter).

import Foundation
import Model
import ModelFiles
import TensorFile

#if canImport(Glibc)
    import Glibc
#endif

public enum ExportFormat: String, CaseIterable, Sendable {
    case mtf, hf, gguf, peft

    /// The element types the format can store.
    public var dtypes: [DType] {
        switch self {
        case .mtf, .hf: [.f32, .bf16, .f16]
        case .gguf: [.f32, .bf16, .f16, .q8_0]
        case .peft: [.f32]
        }
    }

    public var writesDirectory: Bool { self == .hf || self == .peft }
}

/// A path's real location and inode, to tell whether two paths name the same file (hard links,
/// symlinks, `./x` and `x`) or one directory holds the other.
struct FileIdentity {
    let realPath: String?
    let device: UInt64?
    let inode: UInt64?

    init(_ path: String) {
        var st = stat()
        if stat(path, &st) == 0 {
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
        } else {
            device = nil
            inode = nil
        }
        realPath = realpath(path, nil).map { p in
            defer { free(p) }
            return String(cString: p)
        }
    }

    func sameFile(as other: FileIdentity) -> Bool {
        if let d = device, let i = inode, d == other.device, i == other.inode { return true }
        return realPath != nil && realPath == other.realPath
    }

    /// True when this is a directory above `other`.
    func contains(_ other: FileIdentity) -> Bool {
        guard let dir = realPath, let file = other.realPath else { return false }
        return file.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/")
    }
}

public struct ExportRequest: Sendable {
    /// The base model (MTF).
    public var model: String
    /// A checkpoint file, PEFT adapter directory or training output directory; nil exports the base.
    public var adapter: String?
    public var output: String
    /// nil: inferred from `output` (.mtf, .gguf, otherwise a Hugging Face directory).
    public var format: ExportFormat?
    /// nil: the base's float type (f32 when the base is quantized).
    public var dtype: DType?
    public var force: Bool
    public var maxShardSize: Int
    /// Asked before each tensor; answering true stops the export (nothing is left behind).
    public var isCancelled: (@Sendable () -> Bool)?

    public init(
        model: String, adapter: String?, output: String, format: ExportFormat? = nil, dtype: DType? = nil, force: Bool = false,
        maxShardSize: Int = HFExporter.defaultMaxShardSize, isCancelled: (@Sendable () -> Bool)? = nil
    ) {
        self.model = model
        self.adapter = adapter
        self.output = output
        self.format = format
        self.dtype = dtype
        self.force = force
        self.maxShardSize = maxShardSize
        self.isCancelled = isCancelled
    }
}

public struct ExportResult: Sendable {
    public var format: ExportFormat
    public var output: String
    public var dtype: DType
    /// Tensors written (adapter tensors for peft).
    public var tensors: Int
    /// Base weights that received an adapter delta (0 for peft or without an adapter).
    public var merged: Int
    /// Bytes written (all files).
    public var bytes: Int
    /// The MTF fingerprint of an mtf export.
    public var fingerprint: String?
    public var notes: [String]
}

public enum ModelExport {
    // MARK: - Format

    /// The format to write: `explicit` when given (checked against an obvious extension), otherwise
    /// `.mtf` → mtf, `.gguf` → gguf, an extension-less path or a directory → hf.
    public static func format(for output: String, explicit: ExportFormat?) throws -> ExportFormat {
        let ext = (output as NSString).pathExtension.lowercased()
        let byExtension: ExportFormat? =
            switch ext {
            case "mtf": .mtf
            case "gguf": .gguf
            default: nil
            }
        if let explicit {
            if let byExtension, byExtension != explicit {
                throw AdapterError.request("--to \(output) ends in .\(ext) but --format is \(explicit.rawValue); rename the output or drop --format")
            }
            return explicit
        }
        if let byExtension { return byExtension }
        var isDir: ObjCBool = false
        if (FileManager.default.fileExists(atPath: output, isDirectory: &isDir) && isDir.boolValue) || ext.isEmpty || output.hasSuffix("/") {
            return .hf
        }
        throw AdapterError.request("cannot tell the export format from --to \(output) (.mtf, .gguf, or a directory); give --format mtf|hf|gguf|peft")
    }

    static func looksLikePEFT(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/" + PEFTAdapter.configFileName)
    }

    // MARK: - Run

    /// Checks the target, loads base and adapter (refusing an adapter trained on another base), and
    /// writes the export. `progress` gets (tensors written, total).
    public static func run(_ r: ExportRequest, progress: ((Int, Int) -> Void)? = nil) throws -> ExportResult {
        let format = try format(for: r.output, explicit: r.format)
        let output = r.output.hasSuffix("/") && r.output.count > 1 ? String(r.output.dropLast()) : r.output
        try refuseOverwritingInputs(output, model: r.model, adapter: r.adapter)
        try ExportDestination.check(
            output, kind: format.writesDirectory ? .directory : .file, force: r.force,
            replaceable: format == .peft ? looksLikePEFT : HFExporter.looksLikeExport)
        let base = try MappedTensorFile(path: r.model)
        let dtype = r.dtype ?? defaultDType(base)
        guard format.dtypes.contains(dtype) else {
            throw AdapterError.request(
                "--dtype \(dtype.rawValue) is not available for \(format.rawValue) (\(format.dtypes.map(\.rawValue).joined(separator: ", ")))")
        }
        let adapter = try r.adapter.map { try AdapterSource.load($0, base: base) }

        if format == .peft {
            guard let adapter else { throw AdapterError.request("--format peft exports an adapter; give --adapter") }
            let out = try DirectoryExport(target: output)
            try SavedAdapter.write(adapter, into: out.temporary, shownAs: output, baseFile: base, run: nil)
            try out.commit()
            return ExportResult(
                format: format, output: output, dtype: dtype, tensors: adapter.tensorNames.count, merged: 0,
                bytes: directoryBytes(output), fingerprint: nil, notes: [])
        }

        let merge = try adapter.map { try LoRAMerge(adapter: $0, base: base.config) }
        let cancelled = r.isCancelled
        let source = try MTFModelSource(
            file: base,
            transform: { name, values in
                if cancelled?() == true { throw AdapterError.request("export interrupted; nothing was written to \(output)") }
                merge?.apply(name: name, weights: values)
            }, sourceXXH64: format == .mtf ? nil : base.fingerprint)
        var result = ExportResult(
            format: format, output: output, dtype: dtype, tensors: 0, merged: merge?.mergedNames.count ?? 0, bytes: 0, fingerprint: nil,
            notes: [])
        switch format {
        case .mtf:
            result.fingerprint = try Converter.convert(source: source, to: output, dtype: dtype, progress: progress)
            result.tensors = source.tensors.count
            result.bytes = fileBytes(output)
        case .hf:
            let s = try HFExporter.write(
                source: source, to: output, dtype: dtype, maxShardSize: r.maxShardSize, force: r.force, progress: progress)
            result.tensors = s.tensors
            result.bytes = directoryBytes(output)
        case .gguf:
            let s = try GGUFExporter.write(source: source, to: output, type: ggmlType(dtype), force: r.force, progress: progress)
            result.tensors = s.tensors
            result.bytes = s.bytes
            result.notes = s.notes
        case .peft:
            preconditionFailure("handled above")
        }
        return result
    }

    /// Refuses an output that is the base model file itself (same path or same inode, whatever --force
    /// says), a directory holding it, or the adapter being exported: writing it would destroy the input.
    static func refuseOverwritingInputs(_ output: String, model: String, adapter: String?) throws {
        let out = FileIdentity(output)
        for (input, what) in [(model, "the base model"), (adapter, "the adapter")] {
            guard let input else { continue }
            let id = FileIdentity(input)
            if out.sameFile(as: id) {
                throw AdapterError(output, "is \(what) being exported (\(input)); choose another --to (even --force never replaces an input)")
            }
            if out.contains(id) {
                throw AdapterError(output, "holds \(what) being exported (\(input)); choose another --to (even --force never replaces an input)")
            }
        }
    }

    /// The base's matrix element type when it is a float type, f32 for a quantized base.
    static func defaultDType(_ base: MappedTensorFile) -> DType {
        let d = base.info("model.embed_tokens.weight")?.dtype ?? .f32
        return d.isQuantized ? .f32 : d
    }

    static func ggmlType(_ d: DType) -> GGMLType {
        switch d {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        }
    }

    static func fileBytes(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    static func directoryBytes(_ path: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.reduce(0) { $0 + fileBytes(path + "/" + $1) }
    }
}
