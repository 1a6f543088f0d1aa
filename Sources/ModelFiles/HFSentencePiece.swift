// The SentencePiece side of tokenizer.json (Llama 2, Mistral, TinyLlama, Gemma): normalizer, Metaspace
// pre-tokenizer and decoder read into SentencePieceOptions and written back; and the pipeline transformers 5
// rebuilds for LlamaTokenizer / GemmaTokenizer from tokenizer_config.json (legacy, add_prefix_space).

import JSON
import TensorFile

enum HFSentencePiece {
    static let mark = "\u{2581}"

    /// A tokenizer.json that uses Metaspace anywhere is SentencePiece-style even without byte_fallback.
    static func usesMetaspace(_ json: JSONValue) -> Bool {
        json["pre_tokenizer"]?["type"]?.string == "Metaspace"
            || json["pre_tokenizer"]?["pretokenizers"]?.array?.contains { $0["type"]?.string == "Metaspace" } == true
    }

    // MARK: - Reading

    static func options(_ json: JSONValue, model m: JSONFields, path: String) throws -> SentencePieceOptions {
        func fail(_ key: String, _ what: String) -> ModelFileError {
            ModelFileError(.unsupported, path, what, at: "key \(key)")
        }
        func patternString(_ v: JSONValue, _ key: String) throws -> String {
            guard let s = v["pattern"]?["String"]?.string else {
                throw fail(key, "only String patterns are supported in a SentencePiece tokenizer (not Regex)")
            }
            return s
        }

        // Normalizer: null, Prepend, Replace, or a Sequence of them.
        var normalizer: [SentencePieceStep] = []
        if let n = json["normalizer"], !n.isNull {
            let steps = n["type"]?.string == "Sequence" ? n["normalizers"]?.array ?? [] : [n]
            for (i, step) in steps.enumerated() {
                let key = "normalizer[\(i)]"
                switch step["type"]?.string {
                case "Prepend":
                    normalizer.append(.prepend(step["prepend"]?.string ?? ""))
                case "Replace":
                    normalizer.append(.replace(try patternString(step, key), step["content"]?.string ?? ""))
                case let other:
                    throw fail(key, "normalizer \(other ?? "?") is not supported in a SentencePiece tokenizer (Prepend, Replace)")
                }
            }
        }

        // Pre-tokenizer: null, Metaspace, or Split(" ") after a normalizer that removed every space (Gemma).
        var metaspace: MetaspaceOptions?
        if let p = json["pre_tokenizer"], !p.isNull {
            let steps = p["type"]?.string == "Sequence" ? p["pretokenizers"]?.array ?? [] : [p]
            for (i, step) in steps.enumerated() {
                let key = "pre_tokenizer[\(i)]"
                switch step["type"]?.string {
                case "Metaspace":
                    let scheme: String
                    if let s = step["prepend_scheme"]?.string {
                        scheme = s
                    } else {
                        scheme = (step["add_prefix_space"]?.bool ?? true) ? "always" : "never"
                    }
                    guard ["always", "first", "never"].contains(scheme) else {
                        throw fail(key, "Metaspace prepend_scheme \(scheme) is not always, first or never")
                    }
                    metaspace = MetaspaceOptions(
                        replacement: step["replacement"]?.string ?? mark, prependScheme: scheme, split: step["split"]?.bool ?? true)
                case "Split":
                    let spacesGone = normalizer.contains { $0.type == "replace" && $0.pattern == " " && $0.content != " " }
                    guard try patternString(step, key) == " ", spacesGone else {
                        throw fail(key, "Split is only supported on \" \" after a normalizer that replaces every space")
                    }
                case let other:
                    throw fail(key, "pre_tokenizer \(other ?? "?") is not supported in a SentencePiece tokenizer (Metaspace)")
                }
            }
        }

        // Decoder: Replace, ByteFallback, Fuse, Strip, Metaspace.
        var decoder: [SentencePieceStep] = []
        if let d = json["decoder"], !d.isNull {
            let steps = d["type"]?.string == "Sequence" ? d["decoders"]?.array ?? [] : [d]
            for (i, step) in steps.enumerated() {
                let key = "decoder[\(i)]"
                switch step["type"]?.string {
                case "Replace": decoder.append(.replace(try patternString(step, key), step["content"]?.string ?? ""))
                case "ByteFallback": decoder.append(.byteFallback)
                case "Fuse": decoder.append(.fuse)
                case "Strip":
                    decoder.append(
                        .strip(step["content"]?.string ?? " ", start: step["start"]?.int ?? 0, stop: step["stop"]?.int ?? 0))
                case "Metaspace":
                    let scheme =
                        step["prepend_scheme"]?.string ?? ((step["add_prefix_space"]?.bool ?? true) ? "always" : "never")
                    decoder.append(.init(type: "metaspace", pattern: step["replacement"]?.string ?? mark, prependScheme: scheme))
                case let other:
                    throw fail(key, "decoder \(other ?? "?") is not supported in a SentencePiece tokenizer")
                }
            }
        }
        return SentencePieceOptions(
            normalizer: normalizer, metaspace: metaspace, decoder: decoder, byteFallback: try m.bool("byte_fallback") ?? false,
            fuseUnk: try m.bool("fuse_unk") ?? false, ignoreMerges: try m.bool("ignore_merges") ?? false,
            unkToken: try m.string("unk_token"))
    }

    // MARK: - What transformers 5 does with tokenizer_config.json

    /// transformers 5's LlamaTokenizer and GemmaTokenizer ignore tokenizer.json's normalizer, pre-tokenizer and
    /// decoder and build their own (tokenization_llama.py / tokenization_gemma.py); TRL tokenizes with that.
    static func applyTransformersPipeline(_ cfg: JSONValue, to data: inout TokenizerData, path: String, notes: inout [String]) throws {
        guard var options = data.sentencePiece, let cls = cfg["tokenizer_class"]?.string else { return }
        let fields = JSONFields(value: cfg, path: path)
        switch cls {
        case "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast":
            let addPrefixSpace = try fields.bool("add_prefix_space") ?? true
            let legacy = try fields.bool("legacy") ?? false
            let scheme = !addPrefixSpace ? "never" : legacy ? "always" : "first"
            options.normalizer = []
            options.metaspace = MetaspaceOptions(replacement: mark, prependScheme: scheme, split: false)
            options.decoder = [.replace(mark, " "), .byteFallback, .fuse] + (addPrefixSpace ? [.strip(" ", start: 1, stop: 0)] : [])
            options.byteFallback = true
            options.fuseUnk = true
            options.unkToken = nil
            notes.append(
                "\(path): \(cls) with legacy=\(legacy), add_prefix_space=\(addPrefixSpace): Metaspace prepend_scheme \(scheme), as transformers 5 builds it"
            )
        case "GemmaTokenizer", "GemmaTokenizerFast":
            options.normalizer = [.replace(" ", mark)]
            options.metaspace = nil
            options.decoder = [.replace(mark, " "), .byteFallback, .fuse]
            options.byteFallback = true
            options.fuseUnk = true
            options.unkToken = try fields.string("unk_token") ?? (data.vocab.contains("<unk>") ? "<unk>" : nil)
            if let t = options.unkToken, !data.vocab.contains(t) { options.unkToken = nil }
            notes.append("\(path): \(cls): spaces → ▁ with no prefix, as transformers 5 builds it")
        default:
            return
        }
        data.sentencePiece = options
    }

    // MARK: - Writing

    static func json(_ steps: [SentencePieceStep], normalizer: Bool) -> JSONText {
        func pattern(_ s: String?) -> JSONText { .object([("String", .string(s ?? ""))]) }
        let list: [JSONText] = steps.map { step in
            switch step.type {
            case "prepend": return .object([("type", .string("Prepend")), ("prepend", .string(step.content ?? ""))])
            case "replace":
                return .object([("type", .string("Replace")), ("pattern", pattern(step.pattern)), ("content", .string(step.content ?? ""))])
            case "byte_fallback": return .object([("type", .string("ByteFallback"))])
            case "fuse": return .object([("type", .string("Fuse"))])
            case "strip":
                return .object([
                    ("type", .string("Strip")), ("content", .string(step.content ?? " ")), ("start", .int(step.start ?? 0)),
                    ("stop", .int(step.stop ?? 0)),
                ])
            default:
                return .object([
                    ("type", .string("Metaspace")), ("replacement", .string(step.pattern ?? mark)),
                    ("prepend_scheme", .string(step.prependScheme ?? "always")), ("split", .bool(false)),
                ])
            }
        }
        if list.isEmpty { return .null }
        if list.count == 1 { return list[0] }
        return .object([("type", .string("Sequence")), (normalizer ? "normalizers" : "decoders", .array(list))])
    }

    static func preTokenizerJSON(_ m: MetaspaceOptions?) -> JSONText {
        guard let m else { return .null }
        return .object([
            ("type", .string("Metaspace")), ("replacement", .string(m.replacement)), ("prepend_scheme", .string(m.prependScheme)),
            ("split", .bool(m.split)),
        ])
    }
}
