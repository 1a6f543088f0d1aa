// PEFT LoRA adapters on disk (adapter_config.json + adapter_model.safetensors), read and written so that
// PEFT/TRL load what we save and we load what they save. Includes the minimal safetensors reader/writer
// this needs (F32/F16/BF16 in, F32 out); the full importer lives in ModelFiles.

import Foundation
import TensorFile

public enum PEFTAdapterError: Error, CustomStringConvertible, Sendable {
    case io(path: String, what: String)
    case config(path: String, what: String)
    case safetensors(path: String, what: String)
    case tensor(path: String, tensor: String, what: String)

    public var description: String {
        switch self {
        case .io(let p, let w): "\(p): \(w)"
        case .config(let p, let w): "\(p): \(w)"
        case .safetensors(let p, let w): "\(p): not a valid safetensors file: \(w)"
        case .tensor(let p, let t, let w): "\(p): tensor \(t): \(w)"
        }
    }
}

public enum PEFTAdapter {
    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"

    // MARK: - Load

    /// Reads a PEFT LoRA adapter for a model shaped like `modelConfig`. Every layer must carry every
    /// listed target; patterns, DoRA, biases and fan_in_fan_out are refused with a message naming the key.
    public static func load(directory: String, modelConfig: ModelConfig) throws -> LoRAAdapter {
        let configPath = directory + "/" + configFileName
        let weightsPath = directory + "/" + weightsFileName
        let config = try readConfig(path: configPath)
        let adapter = try LoRAAdapter(config: config, modelConfig: modelConfig, seed: 0)
        let file = try SafetensorsFile(path: weightsPath)
        var expected: [String: (shape: [Int], offset: Int)] = [:]
        for t in adapter.tensorNames { expected[t.name] = (t.shape, t.offset) }
        for name in file.names where expected[name] == nil {
            throw PEFTAdapterError.tensor(
                path: weightsPath, tensor: name,
                what: "not expected for r=\(config.r), targets \(config.targets.map(\.moduleName)), \(modelConfig.numHiddenLayers) layers")
        }
        for t in adapter.tensorNames {
            guard file.contains(t.name) else {
                throw PEFTAdapterError.tensor(path: weightsPath, tensor: t.name, what: "missing from the adapter file")
            }
            try file.read(t.name, shape: t.shape, into: adapter.parameters.baseAddress! + t.offset)
        }
        adapter.zeroGradients()
        return adapter
    }

    /// Parses adapter_config.json into a LoRAConfig.
    public static func readConfig(path: String) throws -> LoRAConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PEFTAdapterError.io(path: path, what: "cannot read the adapter config")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw PEFTAdapterError.config(path: path, what: "not a JSON object")
        }
        func fail(_ what: String) -> PEFTAdapterError { .config(path: path, what: what) }
        func isNullOrEmpty(_ key: String) -> Bool {
            switch obj[key] {
            case nil, is NSNull: true
            case let d as [String: Any]: d.isEmpty
            case let a as [Any]: a.isEmpty
            default: false
            }
        }
        if let t = obj["peft_type"] as? String, t != "LORA" { throw fail("peft_type is \(t); only LORA adapters are supported") }
        guard let r = (obj["r"] as? NSNumber)?.intValue else { throw fail("missing or non-integer \"r\"") }
        let alpha = (obj["lora_alpha"] as? NSNumber)?.doubleValue ?? 8
        let dropout = (obj["lora_dropout"] as? NSNumber)?.doubleValue ?? 0
        let rslora = (obj["use_rslora"] as? Bool) ?? false
        if (obj["use_dora"] as? Bool) == true { throw fail("use_dora is true; DoRA adapters are not supported") }
        if let b = obj["bias"] as? String, b != "none" { throw fail("bias is \"\(b)\"; only \"none\" is supported") }
        if (obj["lora_bias"] as? Bool) == true { throw fail("lora_bias is true; adapters with a B bias are not supported") }
        if (obj["fan_in_fan_out"] as? Bool) == true { throw fail("fan_in_fan_out is true; Llama-family weights are (out, in)") }
        for key in ["rank_pattern", "alpha_pattern", "layers_to_transform", "layers_pattern", "modules_to_save", "target_parameters"]
        where !isNullOrEmpty(key) {
            throw fail("\"\(key)\" is set; per-module or per-layer overrides are not supported")
        }
        let modules: [String]
        switch obj["target_modules"] {
        case let list as [String]: modules = list
        case let s as String:
            guard LoRATarget(name: s) != nil else {
                throw fail("target_modules is the pattern \"\(s)\"; save the adapter with an explicit module list")
            }
            modules = [s]
        default: throw fail("missing \"target_modules\" (a list such as [\"q_proj\",\"v_proj\"])")
        }
        var targets: [LoRATarget] = []
        for m in modules {
            guard let t = LoRATarget(name: m) else {
                throw fail("target module \"\(m)\" is not one of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
            }
            if !targets.contains(t) { targets.append(t) }
        }
        let config = LoRAConfig(r: r, alpha: alpha, rslora: rslora, dropout: dropout, targets: targets)
        do { try config.validate() } catch { throw fail("\(error)") }
        return config
    }

    // MARK: - Save

    /// Writes `adapter` as PEFT would (F32 tensors, `{"format":"pt"}` metadata); each file atomically.
    public static func save(_ adapter: LoRAAdapter, directory: String, baseModelName: String? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PEFTAdapterError.io(path: directory, what: "cannot create the directory: \(error.localizedDescription)")
        }
        let tensors = adapter.tensorNames.map {
            SafetensorsFile.OutTensor(
                name: $0.name, shape: $0.shape,
                data: UnsafeBufferPointer(
                    start: adapter.parameters.baseAddress! + $0.offset, count: $0.shape.reduce(1, *)))
        }
        try SafetensorsFile.write(path: directory + "/" + weightsFileName, tensors: tensors)
        let writer = try AtomicFileWriter(path: directory + "/" + configFileName)
        try writer.write(Array(configJSON(adapter.config, baseModelName: baseModelName).utf8))
        try writer.commit()
    }

    /// adapter_config.json text with the keys PEFT writes for a plain LoRA (sorted, two-space indent).
    public static func configJSON(_ c: LoRAConfig, baseModelName: String?) -> String {
        func str(_ s: String?) -> String {
            guard let s else { return "null" }
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
            return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
        }
        func num(_ x: Double) -> String {
            x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
        }
        let fields: [(String, String)] = [
            ("alpha_pattern", "{}"),
            ("base_model_name_or_path", str(baseModelName)),
            ("bias", "\"none\""),
            ("fan_in_fan_out", "false"),
            ("inference_mode", "true"),
            ("init_lora_weights", "true"),
            ("layers_pattern", "null"),
            ("layers_to_transform", "null"),
            ("lora_alpha", num(c.alpha)),
            ("lora_bias", "false"),
            ("lora_dropout", "\(c.dropout)"),
            ("modules_to_save", "null"),
            ("peft_type", "\"LORA\""),
            ("r", "\(c.r)"),
            ("rank_pattern", "{}"),
            ("revision", "null"),
            ("target_modules", "[" + c.targets.map { "\"\($0.moduleName)\"" }.joined(separator: ", ") + "]"),
            ("task_type", "\"CAUSAL_LM\""),
            ("use_dora", "false"),
            ("use_rslora", c.rslora ? "true" : "false"),
        ]
        return "{\n" + fields.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
    }
}

// MARK: - Minimal safetensors

/// Just enough safetensors for adapters: reads F32/F16/BF16 tensors into f32, writes F32.
struct SafetensorsFile {
    struct Entry {
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    struct OutTensor {
        var name: String
        var shape: [Int]
        var data: UnsafeBufferPointer<Float>
    }

    let path: String
    let bytes: Data
    let dataStart: Int
    let entries: [String: Entry]

    var names: [String] { entries.keys.sorted() }
    func contains(_ name: String) -> Bool { entries[name] != nil }

    init(path: String) throws {
        self.path = path
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw PEFTAdapterError.io(path: path, what: "cannot read the adapter weights")
        }
        self.bytes = bytes
        func fail(_ what: String) -> PEFTAdapterError { .safetensors(path: path, what: what) }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes, shorter than the 8-byte header length") }
        let n = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n >= 2, n <= 100_000_000, Int(n) <= bytes.count - 8 else { throw fail("header length \(n) at byte 0 is out of range") }
        dataStart = 8 + Int(n)
        let dataLength = bytes.count - dataStart
        guard let header = (try? JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<dataStart))) as? [String: Any] else {
            throw fail("the header (bytes 8..<\(dataStart)) is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let d = value as? [String: Any], let dtype = d["dtype"] as? String,
                let shape = (d["shape"] as? [NSNumber])?.map(\.intValue),
                let offsets = (d["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2
            else { throw fail("entry \(name) lacks dtype, shape or data_offsets") }
            let size: Int
            switch dtype {
            case "F32": size = 4
            case "F16", "BF16": size = 2
            default: throw PEFTAdapterError.tensor(path: path, tensor: name, what: "dtype \(dtype) is not supported (F32, F16, BF16)")
            }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength,
                offsets[1] - offsets[0] == shape.reduce(size, *)
            else {
                throw PEFTAdapterError.tensor(
                    path: path, tensor: name, what: "data_offsets \(offsets) do not fit shape \(shape) × \(dtype) in \(dataLength) data bytes")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        self.entries = entries
    }

    /// Decodes tensor `name` (which must have `shape`) into `dst` as f32.
    func read(_ name: String, shape: [Int], into dst: UnsafeMutablePointer<Float>) throws {
        guard let e = entries[name] else { throw PEFTAdapterError.tensor(path: path, tensor: name, what: "missing") }
        guard e.shape == shape else { throw PEFTAdapterError.tensor(path: path, tensor: name, what: "shape \(e.shape), expected \(shape)") }
        let count = shape.reduce(1, *)
        bytes.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart + e.begin
            for i in 0..<count {
                switch e.dtype {
                case "F32": dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case "F16": dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                default: dst[i] = bf16ToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        }
    }

    /// Writes F32 tensors in name order, header padded with spaces to a multiple of 8 (as safetensors does).
    static func write(path: String, tensors: [OutTensor]) throws {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header = "{\"__metadata__\":{\"format\":\"pt\"}"
        var offset = 0
        for t in sorted {
            let n = t.data.count * 4
            header +=
                ",\"\(t.name)\":{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(offset + n)]}"
            offset += n
        }
        header += "}"
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        let writer = try AtomicFileWriter(path: path)
        var prefix = [UInt8]()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { prefix += $0 }
        try writer.write(prefix + Array(header.utf8))
        for t in sorted {
            var le = [UInt32](repeating: 0, count: t.data.count)
            for i in 0..<t.data.count { le[i] = t.data[i].bitPattern.littleEndian }
            try le.withUnsafeBytes { try writer.write($0) }
        }
        try writer.commit()
    }
}
