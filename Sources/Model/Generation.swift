// Text generation with a KV cache: the prompt is prefilled in one packed pass, then each new token runs
// the layers on one row and attends to the cache. Greedy at temperature 0, otherwise temperature and
// nucleus (top-p) sampling from a seeded xoshiro256**.
// L layers, C cache capacity (prompt + new tokens), KV = Hk·Dh, H heads, V vocab.

import Foundation
import Kernels
import SeededRandom

// MARK: - Session

/// A KV cache and the step functions over it. The adapter (if any) is fixed when the session is made.
public final class GenerationSession {
    public let model: LlamaModel
    public let capacity: Int
    /// Tokens in the cache.
    public private(set) var length = 0
    private let plan: AdapterPlan?
    private let kCache: UnsafeMutableBufferPointer<Float>  // (L, C, KV)
    private let vCache: UnsafeMutableBufferPointer<Float>  // (L, C, KV)
    private let decodeScratch: UnsafeMutableBufferPointer<Float>  // (H, C)
    private var logitsBuffer: [Float]  // (V)

    init(model: LlamaModel, capacity: Int, adapter: LoRAAdapter?) throws {
        guard capacity >= 1, capacity <= model.maxPositions else {
            throw ModelError.generation(what: "a cache of \(capacity) tokens does not fit the model's \(model.maxPositions) positions")
        }
        self.model = model
        self.capacity = capacity
        plan = try model.activeAdapter(adapter).map { AdapterPlan(adapter: $0, dropout: nil) }
        let c = model.config
        let kv = c.numKeyValueHeads * c.headDim
        kCache = .allocate(capacity: c.numHiddenLayers * capacity * kv)
        vCache = .allocate(capacity: c.numHiddenLayers * capacity * kv)
        kCache.initialize(repeating: 0)
        vCache.initialize(repeating: 0)
        decodeScratch = .allocate(capacity: Attention.decodeScratchFloats(length: capacity, heads: c.numAttentionHeads))
        decodeScratch.initialize(repeating: 0)
        logitsBuffer = [Float](repeating: 0, count: c.vocabSize)
    }

    deinit {
        kCache.deallocate()
        vCache.deallocate()
        decodeScratch.deallocate()
    }

    /// Runs the prompt (the cache must be empty) and returns the logits (V) after its last token.
    public func prefill(_ tokens: [Int32]) throws -> [Float] {
        guard length == 0 else { throw ModelError.generation(what: "prefill on a session that already holds \(length) tokens") }
        guard !tokens.isEmpty else { throw ModelError.generation(what: "the prompt is empty") }
        return try run(tokens)
    }

    /// Appends one token and returns the logits (V) after it.
    public func step(_ token: Int32) throws -> [Float] {
        guard length > 0 else { throw ModelError.generation(what: "step before prefill") }
        return try run([token])
    }

    private func run(_ tokens: [Int32]) throws -> [Float] {
        try model.withSwitches {
            precondition(!model.busy, "the model is inside forwardBackward's loss callback")
            let c = model.config, t = tokens.count, d = c.hiddenSize, start = length
            guard start + t <= capacity else {
                throw ModelError.generation(what: "the cache holds \(capacity) tokens; \(start) + \(t) do not fit")
            }
            for (i, id) in tokens.enumerated() where id < 0 || Int(id) >= c.vocabSize {
                throw ModelError.tokenOutOfRange(sequence: 0, index: start + i, id: id, vocab: c.vocabSize)
            }
            let ws = model.workspace(
                for: WorkspaceSize(tokens: t, rows: 1, rank: plan?.adapter.rank ?? 0, training: false, dropout: false, threads: Parallel.threads))
            for i in 0..<t {
                ws.tokenIds[i] = tokens[i]
                ws.positions[i] = Int32(start + i)
            }
            model.ensureRope(start + t)
            model.embed(out: ws.x, tokens: ws.tokenIds, count: t)
            let mode = AttentionMode.cached(
                k: kCache.baseAddress!, v: vCache.baseAddress!, layerStride: capacity * c.numKeyValueHeads * c.headDim, start: start,
                scratch: decodeScratch.baseAddress!)
            for l in 0..<model.layers.count {
                model.layerForward(l, input: ws.x, output: ws.x, count: t, mode: mode, plan: plan, ws: ws)
            }
            length += t
            // logits = lm_head(rmsnorm(x[last]))
            ws.hsel.update(from: ws.x + (t - 1) * d, count: d)
            RMSNorm.forward(out: ws.hn, rstd: ws.rstdF, inp: ws.hsel, weight: model.finalNorm, rows: 1, dim: d, eps: Float(c.rmsNormEps))
            logitsBuffer.withUnsafeMutableBufferPointer {
                TokenLogProbs.logits(
                    out: $0.baseAddress!, hidden: ws.hn, weight: model.lmHead, rows: 1, scratch: ws.headScratch.baseAddress,
                    softcap: model.logitSoftcap)
            }
            return logitsBuffer
        }
    }
}

// MARK: - Generate

public struct GenerationResult: Sendable, Equatable {
    public enum FinishReason: Sendable, Equatable { case stopToken, maxTokens, cancelled }
    /// New tokens, without the stop token.
    public var tokens: [Int32]
    public var finishReason: FinishReason
}

extension LlamaModel {
    /// A session whose cache holds `capacity` tokens (prompt + new tokens).
    public func makeGenerationSession(capacity: Int, adapter: LoRAAdapter? = nil) throws -> GenerationSession {
        try GenerationSession(model: self, capacity: capacity, adapter: adapter)
    }

    /// Generates up to `maxTokens` tokens after `prompt`. Greedy when `temperature` is 0, otherwise samples
    /// from softmax(logits / temperature) restricted to the top-p nucleus, with `seed`. Stops at any of
    /// `stopTokens` (not emitted) or when `onToken` returns false (that token is kept).
    public func generate(
        prompt: [Int32], maxTokens: Int, temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0,
        stopTokens: Set<Int32> = [], adapter: LoRAAdapter? = nil, onToken: (Int32) -> Bool = { _ in true }
    ) throws -> GenerationResult {
        guard maxTokens >= 0 else { throw ModelError.generation(what: "maxTokens must be ≥ 0, got \(maxTokens)") }
        guard temperature >= 0, temperature.isFinite else {
            throw ModelError.generation(what: "temperature must be a finite number ≥ 0, got \(temperature)")
        }
        guard topP > 0, topP <= 1 else { throw ModelError.generation(what: "top-p must be in (0, 1], got \(topP)") }
        let session = try makeGenerationSession(capacity: prompt.count + max(maxTokens, 1), adapter: adapter)
        var logits = try session.prefill(prompt)
        var rng = Xoshiro256(seed: seed)
        var out: [Int32] = []
        while out.count < maxTokens {
            let next = Int32(
                temperature == 0 ? Sampler.argmax(logits) : Sampler.sample(logits, temperature: temperature, topP: topP, rng: &rng))
            if stopTokens.contains(next) { return GenerationResult(tokens: out, finishReason: .stopToken) }
            out.append(next)
            if !onToken(next) { return GenerationResult(tokens: out, finishReason: .cancelled) }
            if out.count == maxTokens { break }
            logits = try session.step(next)
        }
        return GenerationResult(tokens: out, finishReason: .maxTokens)
    }
}

// MARK: - Sampling

public enum Sampler {
    /// The first index of the largest logit (as torch.argmax).
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }

    /// Samples from softmax(logits / temperature), keeping the smallest most-probable set whose mass
    /// reaches `topP` (always at least one token).
    public static func sample(_ logits: [Float], temperature: Float, topP: Float, rng: inout Xoshiro256) -> Int {
        precondition(temperature > 0 && topP > 0 && topP <= 1 && !logits.isEmpty)
        let mx = logits.max()!
        var probs = logits.map { Foundation.exp(Double(($0 - mx) / temperature)) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        var order = Array(probs.indices)
        var kept = probs.count
        if topP < 1 {
            order.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
            var mass = 0.0
            kept = 0
            while kept < order.count {
                mass += probs[order[kept]]
                kept += 1
                if mass >= Double(topP) { break }
            }
        }
        let mass = order[0..<kept].reduce(0.0) { $0 + probs[$1] }
        var u = rng.nextUnitDouble() * mass
        for i in order[0..<kept] {
            u -= probs[i]
            if u < 0 { return i }
        }
        return order[kept - 1]
    }
}
