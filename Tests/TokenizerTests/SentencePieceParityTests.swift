// SentencePiece tokenizers against Hugging Face tokenizers (tools/reference/gen_spm_tokenizer_fixtures.py): the
// ids and decodes of every fixture string for four tokenizer.json variants, for transformers' own pipeline
// (tokenizer_config.json's class and legacy flag), for the two GGUF "llama" tokenizers, and after export.

import Foundation
import JSON
import ModelFiles
import TensorFile
import Testing
import Tokenizer

struct SPMFixture: Decodable {
    struct Variant: Decodable {
        var ids: [[Int]]
        var decoded: [String]
        var decodedSkip: [String]
        var plainIds: [[Int]]
        var transformersIds: [String: [Int]]
        var transformersDecoded: [String]
    }
    var tokenizers: String
    var strings: [String]
    var variants: [String: Variant]
    var gguf: [String: String]
}

enum SPMFixtures {
    static let variants = ["llama_hub", "llama_legacy", "llama_nonlegacy", "gemma"]

    static var directory: String {
        get throws {
            guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw FixtureError("Fixtures directory missing from the test bundle")
            }
            return dir.appendingPathComponent("spm").path
        }
    }

    private static let loaded = Result { try Fixtures.load("spm/spm_encodings.json", as: SPMFixture.self) }
    static func encodings() throws -> SPMFixture { try loaded.get() }

    /// tokenizer.json alone, as tokenizers.Tokenizer.from_file runs it: its own pipeline and post-processor.
    static func fileData(_ variant: String) throws -> TokenizerData {
        let path = try directory + "/" + variant + "/tokenizer.json"
        let (json, exactVocab) = try HFTokenizer.readTokenizerJSON(path)
        var notes: [String] = []
        var data = try HFTokenizer.tokenizerData(json, exactVocab: exactVocab, path: path, notes: &notes)
        let adds = HFTokenizer.postProcessorAdds(json)
        data.addBosToken = adds?.bos ?? false
        data.bosToken = data.addBosToken ? variant == "gemma" ? "<bos>" : "<s>" : nil
        return data
    }

    /// The directory as LeanDPO converts it (tokenizer_config.json applied, as transformers loads it).
    static func directoryData(_ variant: String) throws -> TokenizerData {
        var notes: [String] = []
        return try HFTokenizer.load(directory: directory + "/" + variant, config: nil, notes: &notes).0
    }
}

/// model.vocab's entries as written (see HFTokenizer.readTokenizerJSON).
func exactVocab(_ node: JSONNode) -> [(key: String, value: JSONNode)]? {
    guard case .object(let top) = node, case .object(let m)? = top.first(where: { $0.key == "model" })?.value,
        case .object(let entries)? = m.first(where: { $0.key == "vocab" })?.value
    else { return nil }
    return entries
}

/// Every fixture string whose ids differ, reported by index (at most a few, to keep failures readable).
func mismatches(_ tokenizer: BPETokenizer, _ strings: [String], _ expected: (Int) -> [Int]) -> [String] {
    var out: [String] = []
    for (i, s) in strings.enumerated() {
        let ids = tokenizer.encode(s)
        if ids != expected(i) {
            out.append("#\(i) \(s.debugDescription.prefix(60)): got \(ids.prefix(24)) want \(expected(i).prefix(24))")
            if out.count == 5 { break }
        }
    }
    return out
}

@Suite struct SentencePieceParityTests {
    @Test(arguments: SPMFixtures.variants) func tokenizerJSONMatchesTokenizers(_ variant: String) throws {
        let fixture = try SPMFixtures.encodings()
        let v = try #require(fixture.variants[variant])
        let data = try SPMFixtures.fileData(variant)
        #expect(data.family == .sentencePieceBPE)
        let tokenizer = try BPETokenizer(data)
        let bad = mismatches(tokenizer, fixture.strings) { v.ids[$0] }
        #expect(bad.isEmpty, "\(variant): \(bad.count) strings differ:\n\(bad.joined(separator: "\n"))")
        for (i, ids) in v.plainIds.enumerated() {
            #expect(tokenizer.encode(fixture.strings[i], addSpecialTokens: false) == ids, "\(variant) #\(i) without specials")
        }
        var decodeBad: [Int] = []
        for (i, ids) in v.ids.enumerated() {
            if tokenizer.decode(ids) != v.decoded[i] || tokenizer.decode(ids, skipSpecialTokens: true) != v.decodedSkip[i] {
                decodeBad.append(i)
            }
        }
        #expect(decodeBad.isEmpty, "\(variant): decodes differ for strings \(decodeBad.prefix(10))")
    }

    @Test(arguments: SPMFixtures.variants) func transformersPipelineMatches(_ variant: String) throws {
        let fixture = try SPMFixtures.encodings()
        let v = try #require(fixture.variants[variant])
        let tokenizer = try BPETokenizer(try SPMFixtures.directoryData(variant))
        let bad = mismatches(tokenizer, fixture.strings) { v.transformersIds[String($0)] ?? v.ids[$0] }
        #expect(bad.isEmpty, "\(variant) via tokenizer_config.json: \(bad.count) strings differ:\n\(bad.joined(separator: "\n"))")
        for (i, text) in v.transformersDecoded.enumerated() {
            #expect(tokenizer.decode(v.ids[i]) == text, "\(variant) transformers decode #\(i)")
        }
    }

    @Test(arguments: ["llama.gguf", "gemma.gguf"]) func ggufMatchesTokenizers(_ file: String) throws {
        let fixture = try SPMFixtures.encodings()
        let variant = try #require(fixture.gguf[file])
        let v = try #require(fixture.variants[variant])
        var notes: [String] = []
        let (data, _) = try GGUFTokenizer.load(path: try SPMFixtures.directory + "/" + file, notes: &notes)
        #expect(data.family == .sentencePieceBPE)
        #expect(data.sentencePiece?.scores != nil)
        let tokenizer = try BPETokenizer(data)
        let bad = mismatches(tokenizer, fixture.strings) { v.ids[$0] }
        #expect(bad.isEmpty, "\(file) vs \(variant): \(bad.count) strings differ:\n\(bad.joined(separator: "\n"))")
        let decodeBad = v.ids.indices.filter { tokenizer.decode(v.ids[$0]) != v.decoded[$0] }
        #expect(decodeBad.isEmpty, "\(file): decodes differ for strings \(decodeBad.prefix(10))")
    }

    /// Written back as tokenizer.json (hf export) and read again: same ids and decodes.
    @Test(arguments: ["llama_hub", "llama_nonlegacy", "gemma"]) func tokenizerJSONRoundTrip(_ variant: String) throws {
        let fixture = try SPMFixtures.encodings()
        let v = try #require(fixture.variants[variant])
        let data = try SPMFixtures.directoryData(variant)
        let text = try HFTokenizerWriter.tokenizerJSON(data).rendered()
        var notes: [String] = []
        let node = try JSONReader.parse(text)
        var back = try HFTokenizer.tokenizerData(JSONValue(node), exactVocab: exactVocab(node), path: "export", notes: &notes)
        back.bosToken = data.bosToken
        back.addBosToken = data.addBosToken
        #expect(back.sentencePiece == data.sentencePiece)
        let tokenizer = try BPETokenizer(back)
        let bad = mismatches(tokenizer, fixture.strings) { v.transformersIds[String($0)] ?? v.ids[$0] }
        #expect(bad.isEmpty, "\(variant) after export: \(bad.joined(separator: "\n"))")
    }

    /// A GGUF tokenizer exported to tokenizer.json: merges derived from the scores give the same ids.
    @Test func ggufScoresToMergesRoundTrip() throws {
        let fixture = try SPMFixtures.encodings()
        let v = try #require(fixture.variants["llama_hub"])
        var notes: [String] = []
        let (data, _) = try GGUFTokenizer.load(path: try SPMFixtures.directory + "/llama.gguf", notes: &notes)
        let text = try HFTokenizerWriter.tokenizerJSON(data).rendered()
        let node = try JSONReader.parse(text)
        var back = try HFTokenizer.tokenizerData(JSONValue(node), exactVocab: exactVocab(node), path: "export", notes: &notes)
        back.bosToken = data.bosToken
        back.addBosToken = data.addBosToken
        #expect(back.sentencePiece?.scores == nil && !back.merges.isEmpty)
        let bad = mismatches(try BPETokenizer(back), fixture.strings) { v.ids[$0] }
        #expect(bad.isEmpty, "llama.gguf → tokenizer.json: \(bad.joined(separator: "\n"))")
    }

    /// The MTF header stores the kind and options; old headers (no kind) read as byte-level.
    @Test func metadataRoundTripAndOldHeaders() throws {
        let data = try SPMFixtures.directoryData("llama_nonlegacy")
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let json = try encoder.encode(data)
        #expect(String(decoding: json, as: UTF8.self).contains("\"kind\":\"sentencepiece_bpe\""))
        #expect(try decoder.decode(TokenizerData.self, from: json) == data)
        let old = try Fixtures.smolLM2Data()
        #expect(old.kind == nil && old.family == .byteLevelBPE)
        #expect(!String(decoding: try encoder.encode(old), as: UTF8.self).contains("\"kind\":"))
    }
}
