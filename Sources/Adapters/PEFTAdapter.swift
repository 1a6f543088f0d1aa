// PEFT LoRA adapters on disk (adapter_config.json + adapter_model.safetensors), read and written so that
// PEFT/TRL load what we save and we load what they save. The safetensors and JSON code is ModelFiles' and
// JSON's: this file only knows PEFT's keys, names and shapes.

import Foundation
import JSON
import Model
import ModelFiles
import TensorFile

public enum PEFTAdapter {
    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"

    // MARK: - Load

    /// Reads a PEFT LoRA adapter for a model shaped like `modelConfig`. Every layer must carry every
    /// listed target; patterns, DoRA, biases and fan_in_fan_out are refused with a message naming the key.
    /// The file's tensor names and shapes are checked against the config before anything is allocated,
    /// and every value must be finite.
    public static func load(directory: String, modelConfig: ModelConfig) throws -> LoRAAdapter {
        let configPath = directory + "/" + configFileName
        let weightsPath = directory + "/" + weightsFileName
        let config = try readConfig(path: configPath)
        let plan: (entries: [LoRAAdapter.Entry], parameterCount: Int)
        do { plan = try LoRAAdapter.plan(config: config, modelConfig: modelConfig) } catch { throw AdapterError(configPath, "\(error)") }
        let file = try SafetensorsFile(path: weightsPath)

        // Names and shapes from the header first: a config claiming r = 4096 costs nothing here.
        let names = LoRAAdapter.tensorNames(plan.entries, rank: config.r)
        var expected: [String: [Int]] = [:]
        for t in names { expected[t.name] = t.shape }
        for t in file.tensors where expected[t.name] == nil {
            throw AdapterError(
                weightsPath,
                "tensor \(t.name) is not expected for r=\(config.r), targets \(LoRATarget.moduleNames(config.targets, fused: modelConfig.fusedProjections)), \(modelConfig.numHiddenLayers) layers"
            )
        }
        for (name, shape, _) in names {
            guard let info = file.info(name) else { throw AdapterError(weightsPath, "tensor \(name) is missing from the adapter file") }
            guard info.shape == shape else {
                throw AdapterError(weightsPath, "tensor \(name) has shape \(info.shape), r=\(config.r) on this model needs \(shape)")
            }
            guard SafetensorsFile.floatDTypes.contains(info.dtype) else {
                throw AdapterError(weightsPath, "tensor \(name) has dtype \(info.dtype); adapters must be F32, F16 or BF16")
            }
        }

        let adapter = try LoRAAdapter(config: config, modelConfig: modelConfig, seed: 0)
        for t in adapter.tensorNames {
            try file.readFloats(file.info(t.name)!, into: adapter.parameters.baseAddress! + t.offset)
        }
        adapter.zeroGradients()
        try AdapterValues.requireFinite(adapter, path: weightsPath)
        return adapter
    }

    /// Parses adapter_config.json into a LoRAConfig. Values of the wrong type are errors, never coerced
    /// (`lora_alpha: "32"` or `r: 4.7` name the file and key).
    public static func readConfig(path: String) throws -> LoRAConfig {
        guard FileManager.default.fileExists(atPath: path) else { throw AdapterError(path, "cannot read the adapter config: no such file") }
        let json = try JSONValue.read(path)
        guard let obj = json.object else { throw AdapterError(path, "not a JSON object") }
        let keys = PEFTConfigKeys(object: obj, path: path)

        if let t = try keys.string("peft_type"), t != "LORA" { throw keys.fail("peft_type", "is \(t); only LORA adapters are supported") }
        guard let r = try keys.int("r") else { throw keys.fail("r", "is missing (the LoRA rank, an integer)") }
        let alpha = try keys.number("lora_alpha") ?? 8
        let dropout = try keys.number("lora_dropout") ?? 0
        let rslora = try keys.bool("use_rslora") ?? false
        if try keys.bool("use_dora") == true { throw keys.fail("use_dora", "is true; DoRA adapters are not supported") }
        if let b = try keys.string("bias"), b != "none" { throw keys.fail("bias", "is \"\(b)\"; only \"none\" is supported") }
        if try keys.bool("lora_bias") == true { throw keys.fail("lora_bias", "is true; adapters with a B bias are not supported") }
        if try keys.bool("fan_in_fan_out") == true { throw keys.fail("fan_in_fan_out", "is true; Llama-family weights are (out, in)") }
        for key in ["rank_pattern", "alpha_pattern", "layers_to_transform", "layers_pattern", "modules_to_save", "target_parameters"]
        where !keys.isNullOrEmpty(key) {
            throw keys.fail(key, "is set; per-module or per-layer overrides are not supported")
        }
        let modules: [String]
        switch obj["target_modules"] {
        case .array(let list)?:
            modules = try list.map {
                guard let s = $0.string else { throw keys.fail("target_modules", "must list strings, found \($0.kindName)") }
                return s
            }
        case .string(let s)?:
            guard LoRATarget.targets(named: s) != nil else {
                throw keys.fail("target_modules", "is the pattern \"\(s)\"; save the adapter with an explicit module list")
            }
            modules = [s]
        case nil, .null?: throw keys.fail("target_modules", "is missing (a list such as [\"q_proj\",\"v_proj\"])")
        case let v?: throw keys.fail("target_modules", "must be a list of module names, found \(v.kindName)")
        }
        var targets: [LoRATarget] = []
        for m in modules {
            guard let ts = LoRATarget.targets(named: m) else {
                throw keys.fail(
                    "target_modules",
                    "module \"\(m)\" is not one of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj (Phi-3: qkv_proj, gate_up_proj)")
            }
            for t in ts where !targets.contains(t) { targets.append(t) }
        }
        let config = LoRAConfig(r: r, alpha: alpha, rslora: rslora, dropout: dropout, targets: targets)
        do { try config.validate() } catch { throw AdapterError(path, "\(error)") }
        return config
    }

    // MARK: - Save

    /// Writes `adapter` as PEFT would (F32 tensors, `{"format":"pt"}` metadata); each file atomically.
    /// `baseModel` becomes `base_model_name_or_path` (see BaseModelName).
    public static func save(_ adapter: LoRAAdapter, directory: String, baseModel: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AdapterError(directory, "cannot create the directory: \((error as NSError).localizedDescription)")
        }
        let tensors = adapter.tensorNames
        let writer = try SafetensorsWriter(
            path: directory + "/" + weightsFileName, tensors: tensors.map { TensorSpec(name: $0.name, dtype: .f32, shape: $0.shape) })
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        while let next = writer.nextTensor {
            let t = byName[next.name]!
            try writer.write(
                name: t.name, floats: UnsafeBufferPointer(start: adapter.parameters.baseAddress! + t.offset, count: t.shape.reduce(1, *)))
        }
        try writer.finish()
        try writeText(
            configJSON(adapter.config, baseModel: baseModel, fused: adapter.modelConfig.fusedProjections).rendered(indent: 2) + "\n",
            to: directory + "/" + configFileName)
    }

    /// adapter_config.json with the keys PEFT writes for a plain LoRA, sorted as PEFT sorts them. `fused`: the
    /// model fuses q/k/v and gate/up (Phi-3), whose modules are then named qkv_proj and gate_up_proj.
    public static func configJSON(_ c: LoRAConfig, baseModel: String, fused: Bool = false) -> JSONText {
        .sorted([
            "alpha_pattern": .object([]),
            "base_model_name_or_path": .string(baseModel),
            "bias": .string("none"),
            "fan_in_fan_out": .bool(false),
            "inference_mode": .bool(true),
            "init_lora_weights": .bool(true),
            "layers_pattern": .null,
            "layers_to_transform": .null,
            // PEFT writes an integral alpha as an integer.
            "lora_alpha": c.alpha == c.alpha.rounded() && abs(c.alpha) < 1e15 ? .int(Int(c.alpha)) : .double(c.alpha),
            "lora_bias": .bool(false),
            "lora_dropout": .double(c.dropout),
            "modules_to_save": .null,
            "peft_type": .string("LORA"),
            "r": .int(c.r),
            "rank_pattern": .object([]),
            "revision": .null,
            "target_modules": .array(LoRATarget.moduleNames(c.targets, fused: fused).map { .string($0) }),
            "task_type": .string("CAUSAL_LM"),
            "use_dora": .bool(false),
            "use_rslora": .bool(c.rslora),
        ])
    }

    static func writeText(_ text: String, to path: String) throws {
        let writer = try AtomicFileWriter(path: path)
        try writer.write(Array(text.utf8))
        try writer.commit()
    }
}

// MARK: - Typed keys

/// adapter_config.json fields by type; a value of another type is an error naming the file and key.
struct PEFTConfigKeys {
    let object: [String: JSONValue]
    let path: String

    func fail(_ key: String, _ what: String) -> AdapterError { AdapterError(path, "\(key) \(what)") }

    private func wrong(_ key: String, _ expected: String, _ v: JSONValue) -> AdapterError {
        let shown: String
        switch v {
        case .string(let s): shown = "the string \"\(s.prefix(40))\""
        case .double(let d): shown = "\(d)"
        default: shown = v.kindName
        }
        return AdapterError(path, "\(key) must be \(expected), got \(shown)")
    }

    /// nil when absent or null.
    private func value(_ key: String) -> JSONValue? {
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    func int(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.int else { throw wrong(key, "an integer", v) }
        return i
    }

    func number(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.double else { throw wrong(key, "a number", v) }
        return d
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.bool else { throw wrong(key, "true or false", v) }
        return b
    }

    func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw wrong(key, "a string", v) }
        return s
    }

    func isNullOrEmpty(_ key: String) -> Bool {
        switch object[key] {
        case nil, .null?: true
        case .object(let o)?: o.isEmpty
        case .array(let a)?: a.isEmpty
        default: false
        }
    }
}
