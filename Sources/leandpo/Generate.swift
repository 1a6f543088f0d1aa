// `leandpo generate`: text from the base model (or base + adapter), with a KV cache.

import ArgumentParser
import Foundation
import Model
import TensorFile
import Training

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a model (optionally with an adapter).")

    @Option(help: "Base model (MTF).") var model: String
    @Option(help: "The prompt text.") var prompt: String
    @Flag(help: "Wrap the prompt as a user message in the model's chat template.") var chat = false
    @Option(help: "Maximum new tokens.") var maxTokens = 64
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Float = 0
    @Option(help: "Nucleus sampling mass.") var topP: Float = 1
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "A checkpoint, PEFT adapter directory, or training output directory.") var adapter: String?
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            let file = try MappedTensorFile(path: model)
            let text = try ModelText(file.metadata)
            let m = try LlamaModel(file: file, threads: threads)
            let lora = try adapter.map { try AdapterSource.load($0, base: file) }
            let input = chat ? try text.render([("user", prompt)], addGenerationPrompt: true) : prompt
            let ids = text.tokenizer.encode(input, addSpecialTokens: !chat).map(Int32.init)
            guard ids.count + maxTokens <= m.maxPositions else {
                throw ArgumentError("prompt (\(ids.count) tokens) + --max-tokens \(maxTokens) exceeds the model's \(m.maxPositions) positions")
            }
            var stops = Set(file.config.eosTokenIds.map(Int32.init))
            if let e = text.tokenizer.eosTokenId { stops.insert(Int32(e)) }
            // Stream: decode the whole tail each time so multi-byte characters appear once complete.
            var emitted = ""
            var generated: [Int] = []
            let t0 = Date()
            let out = try m.generate(
                prompt: ids, maxTokens: maxTokens, temperature: temperature, topP: topP, seed: seed, stopTokens: stops,
                adapter: lora
            ) { token in
                generated.append(Int(token))
                let s = text.tokenizer.decode(generated)
                if !s.hasSuffix("\u{FFFD}"), s.count > emitted.count, s.hasPrefix(emitted) {
                    FileHandle.standardOutput.write(Data(String(s.dropFirst(emitted.count)).utf8))
                    emitted = s
                }
                return true
            }
            let final = text.tokenizer.decode(generated)
            if final.hasPrefix(emitted) { FileHandle.standardOutput.write(Data(String(final.dropFirst(emitted.count)).utf8)) }
            print("")
            let seconds = Date().timeIntervalSince(t0)
            printErr(
                String(
                    format: "[%d prompt + %d new tokens, %.1f tokens/s, %@]", ids.count, out.tokens.count,
                    Double(out.tokens.count) / max(seconds, 1e-9), "\(out.finishReason)"))
        }
    }
}
