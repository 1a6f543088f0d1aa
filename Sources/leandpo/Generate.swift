// `leandpo generate`: text from the base model (or base + adapter), with a KV cache.

import Adapters
import ArgumentParser
import Foundation
import JSON
import Model
import TensorFile
import Training

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model (optionally with an adapter).",
        discussion: """
            --prompt TEXT generates after plain text (or, with --chat, after one user message in the model's chat \
            template). --messages FILE continues a conversation: a JSON list of {"role", "content"} objects \
            (system, user, assistant), rendered with the chat template. --system adds a system message first.
            """)

    @OptionGroup var base: BaseModelOptions
    @OptionGroup var adapter: AdapterOption
    @Option(help: "The prompt text.") var prompt: String?
    @Option(help: "A JSON file holding a list of {\"role\", \"content\"} messages (implies --chat).") var messages: String?
    @Option(help: "A system message before the conversation (implies --chat).") var system: String?
    @Flag(help: "Wrap the prompt as a user message in the model's chat template.") var chat = false
    @Option(help: "Maximum new tokens.") var maxTokens = 64
    @Option(help: "Sampling temperature (0: greedy).") var temperature: Float = 0
    @Option(help: "Nucleus sampling mass.") var topP: Float = 1
    @Option(help: "Sampling seed.") var seed: UInt64 = 0

    /// Cross-option checks, as one line and exit code 1 (run() calls it inside reportingErrors).
    func check() throws {
        guard (prompt == nil) != (messages == nil) else { throw ArgumentError("give --prompt TEXT or --messages FILE (one of them)") }
        guard maxTokens >= 1, maxTokens <= 1 << 24 else { throw ArgumentError("--max-tokens must lie in 1...\(1 << 24), got \(maxTokens)") }
        guard temperature.isFinite, temperature >= 0 else { throw ArgumentError("--temperature must be ≥ 0, got \(temperature)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw ArgumentError("--top-p must lie in (0, 1], got \(topP)") }
    }

    /// The conversation to render: the system message, then the file's messages or the prompt as a user turn.
    func conversation() throws -> [(role: String, content: String)]? {
        guard chat || messages != nil || system != nil else { return nil }
        var out: [(role: String, content: String)] = system.map { [("system", $0)] } ?? []
        if let prompt { out.append(("user", prompt)) }
        if let messages { out += try Self.readMessages(messages) }
        return out
    }

    static func readMessages(_ path: String) throws -> [(role: String, content: String)] {
        // RegularFile: a FIFO or a directory is named, never waited on.
        let data: [UInt8]
        do { data = try RegularFile.read(path) } catch { throw ArgumentError(error.description) }
        let root: JSONValue
        do throws(JSONSyntaxError) {
            root = JSONValue(try JSONReader.parse(data, rules: .strict))
        } catch {
            throw ArgumentError("\(path): line \(error.line), column \(error.column): not valid JSON: \(error.message)")
        }
        guard let items = root.array, !items.isEmpty else { throw ArgumentError("\(path): expected a non-empty JSON list of messages") }
        return try items.enumerated().map { i, m in
            guard let role = m["role"]?.string, let content = m["content"]?.string else {
                throw ArgumentError("\(path): message \(i): needs a string \"role\" and a string \"content\"")
            }
            guard ["system", "user", "assistant"].contains(role) else {
                throw ArgumentError("\(path): message \(i): role '\(role)' is not system, user or assistant")
            }
            return (role, content)
        }
    }

    func run() throws {
        try reportingErrors {
            try check()
            let file = try base.open()
            let text = try ModelText(file: file)
            let m = try base.load(file)
            let lora = try adapter.adapter.map { try AdapterSource.load($0, base: file) }
            let turns = try conversation()
            let input = try turns.map { try text.render($0, addGenerationPrompt: true) } ?? (prompt ?? "")
            let ids = text.tokenizer.encode(input, addSpecialTokens: turns == nil).map(Int32.init)
            guard maxTokens >= 0 else { throw ArgumentError("--max-tokens must be ≥ 0, got \(maxTokens)") }
            // Compared without adding, so a --max-tokens near Int.max cannot overflow.
            guard ids.count <= m.maxPositions, maxTokens <= m.maxPositions - ids.count else {
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
                    Double(out.tokens.count) / max(seconds, 1e-9), Self.describe(out.finishReason)))
        }
    }

    /// Why generation stopped, in words.
    static func describe(_ reason: GenerationResult.FinishReason) -> String {
        switch reason {
        case .stopToken: "stopped at an end-of-turn token"
        case .maxTokens: "stopped at --max-tokens"
        case .cancelled: "cancelled"
        }
    }
}
