// Exact parity with Hugging Face tokenizers 0.23.3 on SmolLM2's tokenizer: ids, decodes, round trips,
// and extra added tokens with lstrip / rstrip / single_word / normalized.

import TensorFile
import Testing
import Tokenizer

@Suite struct ParityTests {
    @Test func fixtureHasEnoughStrings() throws {
        let fixture = try Fixtures.encodings()
        #expect(fixture.encodings.count >= 500)
        #expect(fixture.tokenizersVersion == "0.23.3")
    }

    @Test func idsMatchTokenizers() throws {
        let tokenizer = try Fixtures.smolLM2()
        var mismatches = 0
        for case let entry in try Fixtures.encodings().encodings {
            let ids = tokenizer.encode(entry.text)
            if ids != entry.ids {
                mismatches += 1
                #expect(ids == entry.ids, "encode(\(show(entry.text)))")
            }
        }
        #expect(mismatches == 0)
    }

    @Test func addSpecialTokensDoesNotChangeSmolLM2() throws {
        // SmolLM2 adds neither BOS nor EOS, and added tokens in the text are matched either way.
        let tokenizer = try Fixtures.smolLM2()
        for entry in try Fixtures.encodings().encodings.prefix(200) {
            #expect(tokenizer.encode(entry.text, addSpecialTokens: false) == entry.ids, "\(show(entry.text))")
        }
    }

    @Test func decodeMatchesTokenizers() throws {
        let tokenizer = try Fixtures.smolLM2()
        for entry in try Fixtures.encodings().encodings {
            #expect(tokenizer.decode(entry.ids) == entry.decoded, "decode of \(show(entry.text))")
            #expect(
                tokenizer.decode(entry.ids, skipSpecialTokens: true) == entry.decodedSkip, "skip: \(show(entry.text))")
        }
    }

    @Test func decodeRoundTrips() throws {
        let tokenizer = try Fixtures.smolLM2()
        var lossy: [String] = []
        for entry in try Fixtures.encodings().encodings {
            let back = tokenizer.decode(tokenizer.encode(entry.text))
            if back != entry.text { lossy.append(entry.text) }
        }
        // Only strings with bytes SmolLM2 has no token for (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D here) lose them.
        #expect(lossy.count == 3, "\(lossy.map(show))")
        for text in lossy {
            #expect(text.unicodeScalars.contains { [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D].contains($0.value) })
        }
    }

    @Test func decodeOfArbitraryIdsMatchesTokenizers() throws {
        // Random runs of byte tokens break UTF-8: the replacement characters must fall where tokenizers puts them.
        let tokenizer = try Fixtures.smolLM2()
        for entry in try Fixtures.encodings().decodes {
            #expect(tokenizer.decode(entry.ids) == entry.text, "decode(\(entry.ids))")
            #expect(
                tokenizer.decode(entry.ids, skipSpecialTokens: true) == entry.textSkip, "skip: decode(\(entry.ids))")
        }
    }

    @Test func extraAddedTokensMatchTokenizers() throws {
        let fixture = try Fixtures.encodings()
        var data = try Fixtures.smolLM2Data()
        for token in fixture.extraAddedTokens {
            if token.id == data.vocab.count { data.vocab.append(token.content) }
            data.addedTokens.append(
                AddedToken(
                    id: token.id, content: token.content, special: token.special, lstrip: token.lstrip,
                    rstrip: token.rstrip, normalized: token.normalized, singleWord: token.singleWord))
        }
        let tokenizer = try BPETokenizer(data)
        for entry in fixture.extraCases {
            #expect(tokenizer.encode(entry.text) == entry.ids, "encode(\(show(entry.text)))")
            #expect(tokenizer.decode(entry.ids) == entry.decoded, "decode of \(show(entry.text))")
            #expect(
                tokenizer.decode(entry.ids, skipSpecialTokens: true) == entry.decodedSkip, "skip: \(show(entry.text))")
        }
    }

    @Test func lookupsAndSpecialIds() throws {
        let tokenizer = try Fixtures.smolLM2()
        #expect(tokenizer.vocabSize == 49152)
        #expect(tokenizer.preTokenizer == .smollm)
        #expect(tokenizer.bosTokenId == 1)
        #expect(tokenizer.eosTokenId == 2)
        #expect(tokenizer.padTokenId == 2)
        #expect(tokenizer.unkTokenId == 0)
        #expect(tokenizer.id(of: "<|im_start|>") == 1)
        #expect(tokenizer.id(of: "Ġworld") == 905)
        #expect(tokenizer.id(of: "no such token") == nil)
        #expect(tokenizer.token(of: 905) == "Ġworld")
        #expect(tokenizer.token(of: -1) == nil)
        #expect(tokenizer.token(of: 49152) == nil)
        #expect((0...16).allSatisfy(tokenizer.isSpecial))
        #expect(!tokenizer.isSpecial(17))
        #expect(!tokenizer.isSpecial(-3))
        #expect(!tokenizer.isSpecial(1 << 40))
        #expect(tokenizer.decode([905, -1, 49152, 1 << 40]) == " world")
    }
}

@Suite struct ConcurrencyTests {
    @Test func concurrentEncodesShareTheCacheSafely() async throws {
        let tokenizer = try BPETokenizer(try Fixtures.smolLM2Data())
        let entries = try Fixtures.encodings().encodings
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    // Each worker walks the strings from a different start, so cache fills interleave.
                    var bad = 0
                    for k in entries.indices {
                        let entry = entries[(k + worker * entries.count / 4) % entries.count]
                        if tokenizer.encode(entry.text) != entry.ids { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}
