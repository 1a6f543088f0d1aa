// `leandpo inspect`: what a model file holds (config, tokenizer, tensors, sizes, fingerprint), or what a
// training checkpoint holds (step, base fingerprint, training arguments, sizes, compression, checksums).

import Adapters
import ArgumentParser
import Foundation
import TensorFile
import Tokenizer
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe an MTF model file or a training checkpoint.")

    @Argument(help: "An MTF file or a checkpoint-STEP file.") var file: String
    @Flag(help: "Recompute every tensor checksum (MTF; a checkpoint is always fully verified).") var verify = false
    @Option(help: "Print one tensor's shape and summary statistics.") var tensor: String?

    func run() throws {
        try reportingErrors {
            if CheckpointFile.looksLikeCheckpoint(file) { return try inspectCheckpoint() }
            let m = try MappedTensorFile(path: file)
            if let name = tensor {
                let v = try m.view(name)
                print("tensor \(printable(name))  dtype \(v.dtype.rawValue)  shape \(v.shape)  bytes \(v.info.length)")
                printStatistics(v.toFloats())
                return
            }
            let c = m.config
            let t = m.metadata.tokenizer
            print("file         \(file) (\(formatBytes(m.fileSize)))")
            print("fingerprint  \(m.fingerprint)")
            print(
                "source       \(m.metadata.provenance.sourceFormat) \(m.metadata.provenance.sourceName) (xxh64 \(m.metadata.provenance.sourceXxh64)), \(m.metadata.provenance.converter) \(m.metadata.provenance.converterVersion)"
            )
            print(
                "architecture \(c.architecture.rawValue): layers \(c.numHiddenLayers), hidden \(c.hiddenSize), ffn \(c.intermediateSize), heads \(c.numAttentionHeads)/\(c.numKeyValueHeads) kv, head_dim \(c.headDim)"
            )
            print(
                "             vocab \(c.vocabSize), rope_theta \(c.ropeTheta)\(c.ropeScaling.map { " (\($0.ropeType) ×\($0.factor))" } ?? ""), rms_norm_eps \(c.rmsNormEps), tied \(c.tieWordEmbeddings), qkv bias \(c.attentionBias), qk norm \(c.qkNorm)"
            )
            if c.isGemma {
                let caps = [c.attnLogitSoftcapping.map { "attention \($0)" }, c.finalLogitSoftcapping.map { "logits \($0)" }].compactMap { $0 }
                print(
                    "             gemma: (1 + w) norms, √hidden embeddings, \(c.hiddenAct), query_pre_attn_scalar \(c.queryPreAttnScalar.map { "\($0)" } ?? "-"), soft caps \(caps.isEmpty ? "none" : caps.joined(separator: ", "))"
                )
            }
            if let w = c.slidingWindow {
                let sliding = (0..<c.numHiddenLayers).filter { c.attentionWindow(layer: $0) != nil }.count
                print("             sliding window \(w) on \(sliding) of \(c.numHiddenLayers) layers")
            }
            print("tokenizer    \(tokenizerSummary(t))")
            print("             bos \(t.bosToken ?? "-") eos \(t.eosToken ?? "-") pad \(t.padToken ?? "-"), add_bos \(t.addBosToken)")
            print("chat template \(m.metadata.chatTemplate.map { "\($0.count) chars" } ?? "none")")
            var byType: [DType: (Int, UInt64)] = [:]
            var params = 0
            for info in m.tensors {
                byType[info.dtype, default: (0, 0)].0 += 1
                byType[info.dtype, default: (0, 0)].1 += info.length
                params += info.elementCount
            }
            print(
                "tensors      \(m.tensors.count), \(params) parameters: "
                    + byType.sorted { $0.key.rawValue < $1.key.rawValue }
                    .map { "\($0.key.rawValue) ×\($0.value.0) (\(formatBytes(Int($0.value.1))))" }.joined(separator: ", "))
            for info in m.tensors {
                print(
                    "  \(printable(info.name).padding(toLength: 52, withPad: " ", startingAt: 0)) \(info.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(info.shape.map(String.init).joined(separator: "×").padding(toLength: 12, withPad: " ", startingAt: 0)) \(info.xxh64)"
                )
            }
            if verify {
                try m.verify()
                // What convert checks too: the tokenizer builds, and no layer weight is left unused.
                do { _ = try BPETokenizer(m.metadata.tokenizer) } catch { throw ArgumentError("\(file): \(error)") }
                if let unexpected = c.unexpectedLayerTensors(m.tensors.map(\.name)).first {
                    throw ArgumentError("\(file): tensor \(printable(unexpected)) is not used by the config (\(c.numHiddenLayers) layers)")
                }
                print("verify       all \(m.tensors.count) checksums match; tokenizer and tensor table consistent with the config")
            }
        }
    }

    // MARK: - Checkpoints

    /// Reads (and so fully verifies) a checkpoint and prints what it is, where it stands and what made it.
    func inspectCheckpoint() throws {
        let c = try TrainingCheckpoint.read(path: file)
        let s = c.state
        let a = s.arguments
        let tensors: [(name: String, values: [Float])] = [("lora", c.parameters), ("adamw.m", c.optimizerState.m), ("adamw.v", c.optimizerState.v)]
        if let name = tensor {
            guard let t = tensors.first(where: { $0.name == name }) else {
                throw ArgumentError("\(file): no tensor \(name) (the checkpoint holds \(tensors.map(\.name).joined(separator: ", ")))")
            }
            print("tensor \(name)  f32  shape [\(t.values.count)]")
            printStatistics(t.values)
            return
        }
        let info = c.info
        print("checkpoint   \(file) (\(formatBytes(Int(info.fileBytes))))")
        print("format       LeanDPO checkpoint v\(info.version), \(s.kind), written by leandpo \(s.leandpoVersion)")
        print(String(format: "step         %d of %d (epoch %.2f), AdamW step %d", s.step, s.totalSteps, s.epoch, s.adamStep))
        print("base         fingerprint \(s.baseFingerprint) (trained on \(a.model))")
        print("data         hash \(s.dataHash) (\(a.data))")
        let l = s.lora
        print(
            "lora         r \(l.r), alpha \(formatNumber(l.alpha))\(l.rslora ? " (rsLoRA)" : ""), dropout \(formatNumber(l.dropout)), targets \(l.targets.map(\.rawValue).joined(separator: ",")); \(c.parameters.count) parameters in \(s.adapterTensors.count) tensors"
        )
        print(
            "loss         \(a.loss.map(\.rawValue).joined(separator: ","))\(a.lossWeights.map { " weights " + $0.map(formatNumber).joined(separator: ",") } ?? ""), beta \(formatNumber(a.beta))"
        )
        print(
            "optimizer    AdamW lr \(formatNumber(a.lr)) \(a.lrSchedulerType), warmup \(a.warmupSteps > 0 ? "\(a.warmupSteps) steps" : "ratio \(formatNumber(a.warmupRatio))"), weight decay \(formatNumber(a.weightDecay)), max grad norm \(formatNumber(a.maxGradNorm))"
        )
        print(
            "batches      \(a.batchSize) pairs × \(a.gradAccum) accumulation, max length \(a.maxLength), seed \(a.seed)\(a.shuffle ? "" : ", no shuffle")"
        )
        print(
            String(
                format: "sizes        raw %@, zstd %@ (%.2fx), file %@", formatBytes(Int(info.rawBytes)), formatBytes(Int(info.compressedBytes)),
                info.compressionRatio, formatBytes(Int(info.fileBytes))))
        print("open window  \(s.window.count) micro-batch\(s.window.count == 1 ? "" : "es") of metrics not yet logged")
        print("tensors      \(tensors.count), all f32, checksums verified")
        for t in tensors {
            let h = t.values.withUnsafeBytes { XXHash64.hex(XXHash64.hash($0)) }
            print("  \(t.name.padding(toLength: 10, withPad: " ", startingAt: 0)) [\(t.values.count)]  xxh64 \(h)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        print("arguments    " + String(decoding: try encoder.encode(a), as: UTF8.self))
    }
}

/// Mean, standard deviation, range and non-finite count of `x`, then its first values.
func printStatistics(_ x: [Float]) {
    var sum = 0.0, sq = 0.0, lo = Float.infinity, hi = -Float.infinity, bad = 0
    for f in x {
        if !f.isFinite { bad += 1; continue }
        sum += Double(f); sq += Double(f) * Double(f); lo = min(lo, f); hi = max(hi, f)
    }
    let n = Double(max(1, x.count - bad))
    let mean = sum / n
    print(
        String(
            format: "  mean %.6g  std %.6g  min %.6g  max %.6g  non-finite %d", mean,
            max(0, sq / n - mean * mean).squareRoot(), lo, hi, bad))
    print("  first values: " + x.prefix(8).map { String(format: "%.6g", $0) }.joined(separator: " "))
}

func formatNumber(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)" }

func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= Double(1 << 30) { return String(format: "%.2f GiB", d / Double(1 << 30)) }
    if d >= Double(1 << 20) { return String(format: "%.1f MiB", d / Double(1 << 20)) }
    if d >= Double(1 << 10) { return String(format: "%.1f KiB", d / Double(1 << 10)) }
    return "\(n) B"
}

/// The family and how it splits and merges: "byte-level BPE, pre-tokenizer llama3, …" or
/// "SentencePiece BPE (Metaspace first, byte fallback), merges by score, …".
func tokenizerSummary(_ t: TokenizerData) -> String {
    let added = "\(t.addedTokens.count) added (\(t.addedTokens.filter(\.special).count) special)"
    guard let spm = t.sentencePiece else {
        return "\(t.family.displayName), pre-tokenizer \(t.preTokenizer), \(t.vocab.count) tokens, \(t.merges.count) merges, " + added
    }
    var how: [String] = []
    if let m = spm.metaspace {
        how.append("Metaspace \(m.prependScheme)\(m.split ? " split" : "")")
    } else {
        let prefix = spm.normalizer.contains { $0.type == "prepend" }
        how.append(prefix ? "▁ prefix per text piece" : "no ▁ prefix")
    }
    if spm.byteFallback { how.append("byte fallback") }
    let merges = spm.scores != nil ? "merges by score (GGUF llama)" : "\(t.merges.count) merges"
    return "\(t.family.displayName) (\(how.joined(separator: ", "))), \(t.vocab.count) tokens, \(merges), " + added
}

/// `s` with control characters (C0, DEL, C1) and line or paragraph separators escaped as \u{…}, so a
/// crafted tensor name cannot move the cursor, clear the screen or forge lines in a terminal.
func printable(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        if u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 {
            out += "\\u{\(String(u.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out
}
