// `leandpo inspect`: what a model file holds: config, tokenizer, tensors, sizes, fingerprint.

import ArgumentParser
import Foundation
import TensorFile

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe an MTF model file.")

    @Argument(help: "An MTF file.") var file: String
    @Flag(help: "Recompute every tensor checksum.") var verify = false
    @Option(help: "Print one tensor's shape and summary statistics.") var tensor: String?

    func run() throws {
        try reportingErrors {
            let m = try MappedTensorFile(path: file)
            if let name = tensor {
                let v = try m.view(name)
                let x = v.toFloats()
                var sum = 0.0, sq = 0.0, lo = Float.infinity, hi = -Float.infinity, bad = 0
                for f in x {
                    if !f.isFinite { bad += 1; continue }
                    sum += Double(f); sq += Double(f) * Double(f); lo = min(lo, f); hi = max(hi, f)
                }
                let n = Double(max(1, x.count - bad))
                let mean = sum / n
                print("tensor \(name)  dtype \(v.dtype.rawValue)  shape \(v.shape)  bytes \(v.info.length)")
                print(String(format: "  mean %.6g  std %.6g  min %.6g  max %.6g  non-finite %d", mean,
                    (sq / n - mean * mean).squareRoot(), lo, hi, bad))
                print("  first values: " + x.prefix(8).map { String(format: "%.6g", $0) }.joined(separator: " "))
                return
            }
            let c = m.config
            let t = m.metadata.tokenizer
            print("file         \(file) (\(formatBytes(m.fileSize)))")
            print("fingerprint  \(m.fingerprint)")
            print("source       \(m.metadata.provenance.sourceFormat) \(m.metadata.provenance.sourceName) (xxh64 \(m.metadata.provenance.sourceXxh64)), \(m.metadata.provenance.converter) \(m.metadata.provenance.converterVersion)")
            print("architecture \(c.architecture.rawValue): layers \(c.numHiddenLayers), hidden \(c.hiddenSize), ffn \(c.intermediateSize), heads \(c.numAttentionHeads)/\(c.numKeyValueHeads) kv, head_dim \(c.headDim)")
            print("             vocab \(c.vocabSize), rope_theta \(c.ropeTheta)\(c.ropeScaling.map { " (\($0.ropeType) ×\($0.factor))" } ?? ""), rms_norm_eps \(c.rmsNormEps), tied \(c.tieWordEmbeddings), qkv bias \(c.attentionBias), qk norm \(c.qkNorm)")
            print("tokenizer    byte-level BPE, pre-tokenizer \(t.preTokenizer), \(t.vocab.count) tokens, \(t.merges.count) merges, \(t.addedTokens.count) added (\(t.addedTokens.filter(\.special).count) special)")
            print("             bos \(t.bosToken ?? "-") eos \(t.eosToken ?? "-") pad \(t.padToken ?? "-"), add_bos \(t.addBosToken)")
            print("chat template \(m.metadata.chatTemplate.map { "\($0.count) chars" } ?? "none")")
            var byType: [DType: (Int, UInt64)] = [:]
            var params = 0
            for info in m.tensors {
                byType[info.dtype, default: (0, 0)].0 += 1
                byType[info.dtype, default: (0, 0)].1 += info.length
                params += info.elementCount
            }
            print("tensors      \(m.tensors.count), \(params) parameters: " + byType.sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.key.rawValue) ×\($0.value.0) (\(formatBytes(Int($0.value.1))))" }.joined(separator: ", "))
            for info in m.tensors {
                print("  \(info.name.padding(toLength: 52, withPad: " ", startingAt: 0)) \(info.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(info.shape.map(String.init).joined(separator: "×").padding(toLength: 12, withPad: " ", startingAt: 0)) \(info.xxh64)")
            }
            if verify {
                try m.verify()
                print("verify       all \(m.tensors.count) checksums match")
            }
        }
    }
}

func formatBytes(_ n: Int) -> String {
    let d = Double(n)
    if d >= Double(1 << 30) { return String(format: "%.2f GiB", d / Double(1 << 30)) }
    if d >= Double(1 << 20) { return String(format: "%.1f MiB", d / Double(1 << 20)) }
    if d >= Double(1 << 10) { return String(format: "%.1f KiB", d / Double(1 << 10)) }
    return "\(n) B"
}
