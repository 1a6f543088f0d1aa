// Where `--adapter` may point: a checkpoint file, a PEFT adapter directory, or a training output
// directory (its latest checkpoint, else its adapter/ directory). Checkpoints carry the base
// fingerprint and refuse another base.

import Foundation
import Model
import TensorFile

public enum AdapterSource {
    public static func load(_ path: String, base: MappedTensorFile) throws -> LoRAAdapter {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { throw ArgumentError("\(path): no such adapter") }
        if !isDir.boolValue {
            let c = try TrainingCheckpoint.read(path: path)
            guard c.state.baseFingerprint == base.fingerprint else {
                throw ArgumentError(
                    "\(path): adapter was trained on base \(c.state.baseFingerprint), but \(base.path) is \(base.fingerprint) (HINT: use the base it was trained on)"
                )
            }
            return try c.makeAdapter(modelConfig: base.config)
        }
        if fm.fileExists(atPath: path + "/" + PEFTAdapter.configFileName) {
            return try PEFTAdapter.load(directory: path, modelConfig: base.config)
        }
        if let latest = TrainingCheckpoint.list(directory: path).last { return try load(latest.path, base: base) }
        if fm.fileExists(atPath: path + "/adapter/" + PEFTAdapter.configFileName) { return try load(path + "/adapter", base: base) }
        throw ArgumentError("\(path): neither a checkpoint, a PEFT adapter directory, nor a training output directory")
    }
}
