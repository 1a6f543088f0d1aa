// Any ModelSource → MTF: declare every tensor (the architecture's tensors in ModelConfig order, then the
// extras), then stream them one at a time through one reused f32 buffer sized for the largest tensor,
// so peak memory is about one tensor whatever the model size.

import ChatTemplate
import Foundation
import TensorFile

public enum Converter {
    public static let name = "leandpo"
    public static let version = "0.1.0"

    /// The tensors to write, in file order, after checking the config, the chat template (parsed, not
    /// rendered: a template that every later command would refuse is refused before it is stored) and that
    /// every tensor the architecture needs is present with its shape.
    public static func plan(_ source: any ModelSource) throws -> [SourceTensor] {
        let origin = source.metadata.provenance.sourceName
        let config = source.metadata.config
        do {
            try config.validate()
        } catch {
            throw ModelFileError(.unsupported, origin, "config: \(error)")
        }
        if let template = source.metadata.chatTemplate {
            do throws(ChatTemplateError) {
                _ = try ChatTemplate(template)
            } catch let e {
                throw ModelFileError(
                    e.kind == .unsupported ? .unsupported : .malformed, origin, "the chat template does not parse: \(e.message)",
                    at: "chat template line \(e.line)")
            }
        }
        var byName: [String: SourceTensor] = [:]
        for t in source.tensors {
            guard byName.updateValue(t, forKey: t.name) == nil else {
                throw ModelFileError(.malformed, origin, "tensor \(t.name) appears twice")
            }
        }
        var order: [SourceTensor] = []
        var required = Set<String>()
        for (name, shape) in config.requiredTensors {
            guard let t = byName[name] else {
                throw ModelFileError(.missing, origin, "required tensor \(name) is missing")
            }
            guard t.shape == shape else {
                throw ModelFileError(.malformed, origin, "tensor \(name) has shape \(t.shape), the config needs \(shape)")
            }
            order.append(t)
            required.insert(name)
        }
        if let unexpected = config.unexpectedLayerTensors(source.tensors.map(\.name)).first {
            throw ModelFileError(
                .malformed, origin,
                "tensor \(unexpected) is not used by the config (\(config.numHiddenLayers) layers of \(config.architecture.rawValue)); refusing to drop weights"
            )
        }
        for t in source.tensors where !required.contains(t.name) {
            guard (1...4).contains(t.shape.count), t.shape.allSatisfy({ $0 > 0 && $0 <= 1 << 32 }) else {
                throw ModelFileError(
                    .unsupported, origin, "extra tensor \(t.name) has shape \(t.shape), which MTF cannot store (1 to 4 positive dimensions)")
            }
            order.append(t)
        }
        return order
    }

    /// Thrown when `isCancelled` answers true: the temporary file is already gone and `path` untouched.
    public struct Cancelled: Error, CustomStringConvertible, Sendable {
        public let path: String
        public var description: String { "interrupted; nothing was written to \(path)" }
    }

    /// Writes `source` to an MTF file at `path` with its tensors in `dtype`. A quantized `dtype` (q8_0,
    /// q4_0, q4_1) applies to the matrices whose rows are whole blocks; norms and other vectors stay f32,
    /// as llama.cpp keeps them. `baseModel`, when given, replaces the provenance's recorded origin (a
    /// Hugging Face id or directory). `progress` gets (tensors written, total); `isCancelled` is asked
    /// before each tensor (a signal handler's flag) and stops with `Cancelled`, removing the temporary
    /// file. Returns the base fingerprint.
    @discardableResult
    public static func convert(
        source: any ModelSource, to path: String, dtype: DType, baseModel: String? = nil, isCancelled: () -> Bool = { false },
        progress: ((Int, Int) -> Void)?
    ) throws -> String {
        let order = try plan(source)
        var metadata = source.metadata
        if let baseModel { metadata.provenance.baseModel = baseModel }
        func storedType(_ shape: [Int]) -> DType {
            guard dtype.isQuantized else { return dtype }
            return shape.count == 2 && shape[1] % dtype.blockSize == 0 ? dtype : .f32
        }
        let writer = try MTFWriter(
            path: path, metadata: metadata, tensors: order.map { TensorSpec(name: $0.name, dtype: storedType($0.shape), shape: $0.shape) })
        let capacity = max(1, order.map(\.elementCount).max() ?? 1)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: capacity)  // (largest tensor)
        defer { buffer.deallocate() }
        for (i, t) in order.enumerated() {
            if isCancelled() { throw Cancelled(path: path) }
            try source.load(t, into: buffer)
            try writer.write(name: t.name, floats: UnsafeBufferPointer(start: buffer, count: t.elementCount))
            progress?(i + 1, order.count)
        }
        return try writer.finish()
    }
}
