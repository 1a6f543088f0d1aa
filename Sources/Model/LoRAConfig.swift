// LoRA hyper-parameters: rank, alpha, rsLoRA, dropout and which projections get an adapter.
// Target names follow the CLI (`--lora-targets q,k,v,o,gate,up,down`); PEFT module names are q_proj…down_proj,
// and on Phi-3, which fuses them, qkv_proj (q, k, v together) and gate_up_proj (gate, up together).

import Foundation
import TensorFile

// MARK: - Targets

/// A linear projection of a decoder layer that can carry a LoRA adapter.
public enum LoRATarget: String, Codable, Sendable, CaseIterable, Comparable {
    case q, k, v, o, gate, up, down

    /// The PEFT / Hugging Face module name (`q_proj` … `down_proj`).
    public var moduleName: String { rawValue + "_proj" }

    /// The module path inside a decoder layer (`self_attn.q_proj`, `mlp.gate_proj`).
    public var modulePath: String {
        switch self {
        case .q, .k, .v, .o: "self_attn." + moduleName
        case .gate, .up, .down: "mlp." + moduleName
        }
    }

    /// The fused module this target is a row range of on a model with fused projections (Phi-3's
    /// `self_attn.qkv_proj`, `mlp.gate_up_proj`), or its own module otherwise.
    public func modulePath(fused: Bool) -> String {
        guard fused else { return modulePath }
        switch self {
        case .q, .k, .v: return "self_attn.qkv_proj"
        case .gate, .up: return "mlp.gate_up_proj"
        case .o, .down: return modulePath
        }
    }

    /// The PEFT module name on a model with fused projections (`qkv_proj`) or not (`q_proj`).
    public func moduleName(fused: Bool) -> String {
        String(modulePath(fused: fused).split(separator: ".").last!)
    }

    /// The targets sharing one fused module with this one (Phi-3), in row order; just this target otherwise.
    public func fusedGroup(fused: Bool) -> [LoRATarget] {
        guard fused else { return [self] }
        switch self {
        case .q, .k, .v: return [.q, .k, .v]
        case .gate, .up: return [.gate, .up]
        case .o, .down: return [self]
        }
    }

    /// Names of fused modules (Phi-3's) and the targets they stand for.
    public static let fusedNames: [String: [LoRATarget]] = [
        "qkv": [.q, .k, .v], "qkv_proj": [.q, .k, .v], "gate_up": [.gate, .up], "gate_up_proj": [.gate, .up],
    ]

    /// The targets a name stands for: a short CLI name (`q`), a PEFT module name (`q_proj`), or a fused
    /// module (`qkv_proj` → q, k, v; `gate_up_proj` → gate, up).
    public static func targets(named name: String) -> [LoRATarget]? {
        if let group = fusedNames[name] { return group }
        return LoRATarget(name: name).map { [$0] }
    }

    /// PEFT's target_modules for `targets`: one name per module, fused ones once (Phi-3).
    public static func moduleNames(_ targets: [LoRATarget], fused: Bool) -> [String] {
        var out: [String] = []
        for t in targets.sorted() where !out.contains(t.moduleName(fused: fused)) { out.append(t.moduleName(fused: fused)) }
        return out
    }

    /// Accepts the short CLI name (`q`) or the PEFT module name (`q_proj`).
    public init?(name: String) {
        let n = name.hasSuffix("_proj") ? String(name.dropLast(5)) : name
        guard let t = LoRATarget(rawValue: n) else { return nil }
        self = t
    }

    public static func < (a: LoRATarget, b: LoRATarget) -> Bool { a.index < b.index }

    /// Position in `allCases` (q = 0 … down = 6).
    public var index: Int { Self.allCases.firstIndex(of: self)! }

    /// Parses a comma-separated list such as `q,k,v,o` or `all`; duplicates are an error.
    public static func parseList(_ text: String) throws -> [LoRATarget] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        // PEFT spells "every linear projection" all-linear.
        if parts == ["all"] || parts == ["all-linear"] || parts == ["all_linear"] { return allCases }
        var out: [LoRATarget] = []
        for p in parts {
            guard let ts = targets(named: p) else {
                throw LoRAConfigError(
                    "unknown LoRA target \"\(p)\"; use a comma-separated subset of q,k,v,o,gate,up,down (or all, all-linear; Phi-3: qkv_proj, o_proj, gate_up_proj, down_proj)"
                )
            }
            for t in ts {
                guard !out.contains(t) else { throw LoRAConfigError("LoRA target \"\(p)\" is listed twice") }
                out.append(t)
            }
        }
        guard !out.isEmpty else { throw LoRAConfigError("the LoRA target list is empty; use e.g. q,k,v,o,gate,up,down") }
        return out.sorted()
    }
}

// MARK: - Config

public struct LoRAConfig: Codable, Sendable, Equatable {
    /// Rank R.
    public var r: Int
    /// lora_alpha; the adapter output is scaled by alpha/r (alpha/√r with rsLoRA).
    public var alpha: Double
    /// rsLoRA scaling (PEFT `use_rslora`).
    public var rslora: Bool
    /// Dropout probability on the adapter input, in [0, 1) (training passes only).
    public var dropout: Double
    /// Projections that get an adapter, in canonical order q, k, v, o, gate, up, down.
    public var targets: [LoRATarget]

    public init(r: Int = 16, alpha: Double = 32, rslora: Bool = false, dropout: Double = 0, targets: [LoRATarget] = LoRATarget.allCases) {
        self.r = r
        self.alpha = alpha
        self.rslora = rslora
        self.dropout = dropout
        self.targets = targets.sorted()
    }

    /// The factor the adapter output B·A·x is multiplied by.
    public var scale: Float {
        Float(rslora ? alpha / Double(r).squareRoot() : alpha / Double(r))
    }

    /// Checks the targets suit `model`: on a model with fused projections (Phi-3) q, k and v are one module
    /// (qkv_proj) and gate and up another (gate_up_proj), so each group is adapted whole or not at all.
    public func validate(for model: ModelConfig) throws {
        guard model.fusedProjections else { return }
        for t in targets {
            let group = t.fusedGroup(fused: true)
            if let missing = group.first(where: { !targets.contains($0) }) {
                let names = group.map(\.rawValue).joined(separator: ", ")
                throw LoRAConfigError(
                    "\(model.architecture.rawValue) fuses \(names) into one module, \(t.moduleName(fused: true)); LoRA targets must take \(names) together (target \(t.moduleName(fused: true))), not \(t.rawValue) without \(missing.rawValue)"
                )
            }
        }
    }

    /// Checks every field; the message names the field and the accepted range.
    public func validate() throws {
        guard r >= 1, r <= 4096 else { throw LoRAConfigError("LoRA rank r must be in 1...4096, got \(r)") }
        guard alpha.isFinite, alpha > 0 else { throw LoRAConfigError("LoRA alpha must be a positive number, got \(alpha)") }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else {
            throw LoRAConfigError("LoRA dropout must be in the range [0, 1), got \(dropout)")
        }
        guard !targets.isEmpty else { throw LoRAConfigError("LoRA targets must name at least one of q,k,v,o,gate,up,down") }
        guard Set(targets).count == targets.count else { throw LoRAConfigError("LoRA targets list a projection twice: \(targets)") }
    }

    enum CodingKeys: String, CodingKey { case r, alpha, rslora, dropout, targets }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        r = try c.decode(Int.self, forKey: .r)
        alpha = try c.decode(Double.self, forKey: .alpha)
        rslora = try c.decodeIfPresent(Bool.self, forKey: .rslora) ?? false
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
        targets = try c.decode([LoRATarget].self, forKey: .targets).sorted()
        do { try validate() } catch let e as LoRAConfigError {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: e.description))
        }
    }
}

public struct LoRAConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
