// Loads the committed fixtures (tools/reference/gen_tokenizer_fixtures.py): SmolLM2's TokenizerData
// and the ids, decodes and pre-tokenizer splits that Hugging Face tokenizers / Python regex produced.

import Foundation
import TensorFile
import Tokenizer

struct EncodingsFixture: Decodable {
    struct Encoding: Decodable {
        var text: String
        var ids: [Int]
        var decoded: String
        var decodedSkip: String
    }
    struct Decode: Decodable {
        var ids: [Int]
        var text: String
        var textSkip: String
    }
    struct ExtraToken: Decodable {
        var id: Int
        var content: String
        var special: Bool
        var lstrip: Bool
        var rstrip: Bool
        var normalized: Bool
        var singleWord: Bool
    }
    var tokenizersVersion: String
    var encodings: [Encoding]
    var decodes: [Decode]
    var extraAddedTokens: [ExtraToken]
    var extraCases: [Encoding]
}

struct SplitsFixture: Decodable {
    struct Row: Decodable {
        var text: String
        var gpt2: [String]
        var llama3: [String]
        var qwen2: [String]
    }
    var splits: [Row]
}

enum Fixtures {
    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw FixtureError("Fixtures directory missing from the test bundle")
        }
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: data)
    }

    /// Decoded once and shared by the tests (the vocab file is about 1 MB).
    private static let loaded: Result<(TokenizerData, BPETokenizer), Error> = Result {
        let data = try load("smollm2_tokenizer.json", as: TokenizerData.self)
        return (data, try BPETokenizer(data))
    }
    private static let loadedEncodings = Result { try load("smollm2_encodings.json", as: EncodingsFixture.self) }
    private static let loadedSplits = Result { try load("pretokenizer_splits.json", as: SplitsFixture.self) }

    static func smolLM2Data() throws -> TokenizerData { try loaded.get().0 }
    static func smolLM2() throws -> BPETokenizer { try loaded.get().1 }
    static func encodings() throws -> EncodingsFixture { try loadedEncodings.get() }
    static func splits() throws -> SplitsFixture { try loadedSplits.get() }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A string with control characters escaped, for readable failure messages.
func show(_ s: String) -> String {
    let escaped = s.unicodeScalars.map {
        $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0)
    }
    let text = escaped.joined()
    return text.count > 120 ? String(text.prefix(120)) + "…(\(s.unicodeScalars.count) scalars)" : text
}
