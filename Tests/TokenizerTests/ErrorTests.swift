// Building from data: bad data is refused with a typed error naming the field, BOS/EOS are added only
// when asked, and tokens are told apart by bytes, not by Unicode canonical equivalence.

import TensorFile
import Testing
import Tokenizer

@Suite struct ErrorTests {
    /// A toy byte-level vocab: the 256 alphabet characters (in byte order), then merged tokens.
    static let alphabet: [String] = {
        var scalars: [UInt32] = []
        var shifted: UInt32 = 0
        for byte in UInt32(0)..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            scalars.append(printable ? byte : 256 + (shifted))
            if !printable { shifted += 1 }
        }
        return scalars.map { String(Character(Unicode.Scalar($0)!)) }
    }()

    static func toy(
        preTokenizer: String = "gpt2", extra: [String] = ["ab", "abc", "<s>", "</s>"],
        merges: [String] = ["a b", "ab c"],
        added: [AddedToken]? = nil, bos: String? = "<s>", eos: String? = "</s>", addBos: Bool = false,
        addEos: Bool = false
    ) -> TokenizerData {
        let vocab = alphabet + extra
        let added = added ?? [AddedToken(id: 258, content: "<s>"), AddedToken(id: 259, content: "</s>")]
        return TokenizerData(
            preTokenizer: preTokenizer, vocab: vocab, merges: merges, addedTokens: added, bosToken: bos, eosToken: eos,
            addBosToken: addBos, addEosToken: addEos)
    }

    @Test func toyTokenizerWorks() throws {
        let tokenizer = try BPETokenizer(Self.toy())
        #expect(tokenizer.encode("abc") == [257])
        // Printable ASCII is its own alphabet character, so "c" and "a" are ids 99 and 97.
        #expect(tokenizer.encode("ab<s>ca") == [256, 258, 99, 97])
        #expect(tokenizer.decode([256, 258, 259]) == "ab<s></s>")
        #expect(tokenizer.decode([256, 258, 259], skipSpecialTokens: true) == "ab")
    }

    @Test func bosAndEosFollowTheData() throws {
        let both = try BPETokenizer(Self.toy(addBos: true, addEos: true))
        #expect(both.encode("ab") == [258, 256, 259])
        #expect(both.encode("ab", addSpecialTokens: false) == [256])
        #expect(both.encode("<s>ab", addSpecialTokens: false) == [258, 256])
        #expect(both.encode("") == [258, 259])
        let none = try BPETokenizer(Self.toy())
        #expect(none.encode("ab") == [256])
    }

    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        // "A" + U+030A and U+212B (Angstrom sign) are == as Swift Strings, and so are U+2000 and U+2002.
        let extra = ["ab", "abc", "<s>", "</s>", "A\u{30A}", "\u{212B}", "\u{2000}", "\u{2002}"]
        let tokenizer = try BPETokenizer(Self.toy(extra: extra))
        #expect(tokenizer.id(of: "A\u{30A}") == 260)
        #expect(tokenizer.id(of: "\u{212B}") == 261)
        #expect(tokenizer.id(of: "\u{2000}") == 262)
        #expect(tokenizer.id(of: "\u{2002}") == 263)
        #expect(tokenizer.id(of: "\u{C5}") == 197)
    }

    @Test func wordCacheIsByteExact() throws {
        // The second word of each pair is canonically equivalent to the first, which is cached by then.
        let tokenizer = try Fixtures.smolLM2()
        for (first, second) in [
            ("\u{2000}", "\u{2002}"), ("x\u{C5}", "x\u{212B}"), ("\u{1E9B}\u{323}", "\u{17F}\u{323}\u{307}"),
        ] {
            for text in [first, second, first] {
                #expect(tokenizer.decode(tokenizer.encode(text)).utf8.elementsEqual(text.utf8), "\(show(text))")
            }
        }
    }

    @Test func unknownPreTokenizer() {
        #expect(throws: TokenizerError.unknownPreTokenizer("bert")) { try BPETokenizer(Self.toy(preTokenizer: "bert")) }
    }

    @Test func emptyVocab() {
        let data = TokenizerData(preTokenizer: "gpt2", vocab: [], merges: [], addedTokens: [])
        #expect(throws: TokenizerError.emptyVocab) { try BPETokenizer(data) }
    }

    @Test func duplicateToken() {
        #expect(throws: TokenizerError.duplicateToken(token: "ab", firstId: 256, secondId: 260)) {
            try BPETokenizer(Self.toy(extra: ["ab", "abc", "<s>", "</s>", "ab"]))
        }
    }

    @Test func mergesMustNameVocabTokens() {
        #expect(throws: TokenizerError.badMerge(index: 1, merge: "ab zz", reason: "part \"zz\" is not in the vocab")) {
            try BPETokenizer(Self.toy(merges: ["a b", "ab zz"]))
        }
        #expect(throws: TokenizerError.badMerge(index: 0, merge: "zz a", reason: "part \"zz\" is not in the vocab")) {
            try BPETokenizer(Self.toy(merges: ["zz a"]))
        }
        #expect(
            throws: TokenizerError.badMerge(index: 0, merge: "ab", reason: "is not two tokens separated by one space")
        ) {
            try BPETokenizer(Self.toy(merges: ["ab"]))
        }
        #expect(
            throws: TokenizerError.badMerge(index: 0, merge: "a  b", reason: "is not two tokens separated by one space")
        ) {
            try BPETokenizer(Self.toy(merges: ["a  b"]))
        }
        #expect(throws: TokenizerError.badMerge(index: 1, merge: "b c", reason: "result \"bc\" is not in the vocab")) {
            try BPETokenizer(Self.toy(merges: ["a b", "b c"]))
        }
    }

    @Test func addedTokensMustMatchTheVocab() {
        #expect(
            throws: TokenizerError.badAddedToken(
                index: 0, content: "<s>", reason: "id 999 is outside the vocab (0..<260)")
        ) {
            try BPETokenizer(Self.toy(added: [AddedToken(id: 999, content: "<s>")]))
        }
        #expect(
            throws: TokenizerError.badAddedToken(
                index: 0, content: "<x>", reason: "vocab[258] is \"<s>\", not this token")
        ) {
            try BPETokenizer(Self.toy(added: [AddedToken(id: 258, content: "<x>")]))
        }
        #expect(throws: TokenizerError.badAddedToken(index: 0, content: "", reason: "content is empty")) {
            try BPETokenizer(Self.toy(added: [AddedToken(id: 258, content: "")]))
        }
    }

    @Test func specialTokensMustExist() {
        #expect(throws: TokenizerError.unknownSpecialToken(field: "bos_token", token: "<bos>")) {
            try BPETokenizer(Self.toy(bos: "<bos>"))
        }
        #expect(throws: TokenizerError.missingSpecialToken(field: "eos_token", neededBy: "add_eos_token")) {
            try BPETokenizer(Self.toy(eos: nil, addEos: true))
        }
    }

    @Test func errorsPrintOnOneLineNamingTheField() {
        let errors: [TokenizerError] = [
            .duplicateToken(token: "a\nb", firstId: 1, secondId: 2),
            .badMerge(index: 3, merge: "x\u{2028}y", reason: "part \"x\" is not in the vocab"),
            .unknownPreTokenizer("bert"),
        ]
        for error in errors {
            #expect(!error.description.contains("\n") && !error.description.contains("\u{2028}"))
            #expect(error.description.hasPrefix("tokenizer."))
        }
        #expect(TokenizerError.unknownPreTokenizer("bert").description.contains("smollm"))
    }
}
