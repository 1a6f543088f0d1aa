// TRL tokenization parity (Fixtures/data_trl_tokenization.json: TRL's own _prepare_dataset and collator with the toy
// tokenizer of TrainingSupport.swift), plus truncation, dropping, warnings, EOS handling and the summary.

import Foundation
import Testing
import Training

// MARK: - TRL parity

struct TokenizationCase: CustomTestStringConvertible, @unchecked Sendable {
    var name: String
    var maxLength: Int?
    var truncation: String
    var examples: [[String: Any]]
    var pairs: [[String: Any]]
    var testDescription: String { "\(name) max \(maxLength.map { "\($0)" } ?? "none") \(truncation)" }

    static let all: [TokenizationCase] = {
        let root = try! Fixture.json("data_trl_tokenization.json") as! [String: Any]
        return (root["datasets"] as! [[String: Any]]).map {
            TokenizationCase(
                name: $0["name"] as! String, maxLength: $0["max_length"] as? Int, truncation: $0["truncation"] as! String,
                examples: $0["examples"] as! [[String: Any]], pairs: $0["pairs"] as! [[String: Any]])
        }
    }()
}

@Test(arguments: TokenizationCase.all)
func tokenizationMatchesTRL(_ c: TokenizationCase) throws {
    let lines = try c.examples.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
    let path = try temporaryFile(lines.joined(separator: "\n") + "\n")
    let options = DataOptions(maxLength: c.maxLength, truncation: try #require(TruncationMode(rawValue: c.truncation)))
    let dataset = try PreferenceDataset.load(path: path, context: Toy.context, options: options)
    #expect(dataset.pairs.count == c.pairs.count)
    #expect(dataset.summary.dropped.values.reduce(0, +) == c.examples.count - c.pairs.count)
    for (mine, trl) in zip(dataset.pairs, c.pairs) {
        #expect(mine.promptIds == trl["prompt_ids"] as! [Int])
        #expect(mine.chosenIds == trl["chosen_ids"] as! [Int])
        #expect(mine.rejectedIds == trl["rejected_ids"] as! [Int])
        for (seq, key) in [(mine.chosen, "chosen"), (mine.rejected, "rejected")] {
            let expected = trl[key] as! [String: Any]
            #expect(seq.ids == expected["ids"] as! [Int], "\(key) ids at \(mine.location)")
            #expect(seq.completionStart == expected["completion_start"] as! Int, "\(key) completion start at \(mine.location)")
        }
    }
}

// MARK: - Behaviour

func tokenized(_ jsonl: String, _ options: DataOptions = DataOptions()) throws -> PreferenceDataset {
    try PreferenceDataset.make(
        try PreferenceData.parse(Array(jsonl.utf8), file: "t.jsonl"), context: Toy.context, options: options)
}

@Test func eosIsAppendedToTextCompletionsUnlessPresent() throws {
    let d = try tokenized(#"{"prompt": "a", "chosen": "b</s>", "rejected": "c"}"#)
    #expect(d.pairs[0].chosenIds == [3 + 98, 2])
    #expect(d.pairs[0].rejectedIds == [3 + 99, 2])
    #expect(d.pairs[0].promptIds == [1, 3 + 97])
}

@Test func conversationalRenderingUsesTheTemplate() throws {
    let d = try tokenized(
        #"{"system": "S", "prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "y"}], "rejected": [{"role": "assistant", "content": "n"}]}"#
    )
    let p = d.pairs[0]
    let promptText = "<s><|system|>\nS</s>\n<|user|>\nq</s>\n<|assistant|>\n"
    #expect(p.promptIds == Toy.encode(promptText, addSpecialTokens: false))
    #expect(p.chosenIds == Toy.encode("y</s>\n", addSpecialTokens: false))  // the template's own EOS, no extra one
    #expect(d.summary.conversational == 1)
    #expect(d.summary.warnings.isEmpty)  // BOS once: the template writes it, encode adds none
}

@Test func conversationalRecordsNeedATemplate() throws {
    var context = Toy.context
    context.renderChat = nil
    let records = try PreferenceData.parse(
        Array(#"{"chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#.utf8), file: "c.jsonl")
    do {
        _ = try PreferenceDataset.make(records, context: context, options: DataOptions())
        Issue.record("expected a chat-template error")
    } catch let e as DataError {
        #expect(e.kind == .chatTemplate)
        #expect(e.description.hasPrefix("c.jsonl: line 1: "))
    }
}

@Test func keepStartTruncatesEachSequenceAndDropsLongPrompts() throws {
    // prompt "abcd" → [BOS, a, b, c, d] (5 tokens); completions 6 and 3 tokens with EOS.
    let d = try tokenized(
        #"{"prompt": "abcd", "chosen": "12345", "rejected": "xy"}"# + "\n" + #"{"prompt": "abcdefgh", "chosen": "1", "rejected": "2"}"#,
        DataOptions(maxLength: 8, truncation: .keepStart))
    #expect(d.pairs.count == 1)
    #expect(d.summary.dropped == [.promptTooLong: 1])  // 9 prompt tokens ≥ 8
    let p = d.pairs[0]
    #expect(p.chosen.ids == [1, 100, 101, 102, 103, 3 + 49, 3 + 50, 3 + 51])
    #expect(p.chosen.completionStart == 5 && p.chosen.wasTruncated)
    #expect(p.chosen.completionTokens == 3 && p.chosen.scoredTokens == 3)
    #expect(!p.rejected.wasTruncated && p.rejected.ids.count == 8)
    #expect(p.chosenIds.count == 6)  // the untruncated completion stays available
    #expect(d.summary.truncatedChosen == 1 && d.summary.truncatedRejected == 0)
}

@Test func keepEndKeepsTheTailAndDropsNothing() throws {
    let d = try tokenized(
        #"{"prompt": "abcdefgh", "chosen": "1", "rejected": "234567890"}"#, DataOptions(maxLength: 8, truncation: .keepEnd))
    #expect(d.pairs.count == 1)
    let p = d.pairs[0]
    #expect(p.chosen.ids == [102, 103, 104, 105, 106, 107, 3 + 49, 2])  // [BOS, a, b] cut
    #expect(p.chosen.completionStart == 6)
    // rejected: 10 completion tokens > 8, so the completion starts at position 0; position 0 is not scored.
    #expect(p.rejected.completionStart == 0)
    #expect(p.rejected.completionTokens == 8 && p.rejected.scoredTokens == 7)
    #expect(p.sharedScoredTokens == 2)
}

@Test func promptNotAPrefixIsCountedAsAWarning() throws {
    // "The" + "n" merges into "Then": the prompt's last token is not a prefix of prompt+rejected.
    let d = try tokenized(#"{"chosen": "Q: The cat", "rejected": "Q: Then"}"#)
    let p = d.pairs[0]
    #expect(d.summary.warnings == [.promptNotPrefix: 1])
    #expect(d.summary.implicitPrompts == 1)
    #expect(p.promptIds == Toy.encode("Q: ", addSpecialTokens: true))
    #expect(p.chosenIds.first == 300 && p.rejectedIds.first == 301)
    #expect(d.summary.description.contains("Warnings: prompt tokens not a prefix of prompt+completion tokens in 1 pair."))
}

@Test func doubleBOSIsCounted() throws {
    let d = try tokenized(#"{"prompt": "<s>hi", "chosen": "a", "rejected": "b"}"#)
    #expect(d.pairs[0].promptIds.prefix(2) == [1, 1])
    #expect(d.summary.warnings == [.doubleBOS: 1])
}

@Test func summaryDescribesTheFileInOneParagraph() throws {
    let d = try tokenized(
        [
            #"{"prompt": "abcd", "chosen": "12345", "rejected": "xy"}"#, #"{"prompt": "abcdefghij", "chosen": "1", "rejected": "2"}"#,
            #"{"chosen": "Say yes", "rejected": "Say no"}"#,
        ].joined(separator: "\n"),
        DataOptions(maxLength: 8))
    #expect(d.summary.recordsRead == 3 && d.summary.pairsKept == 2)
    #expect(
        d.summary.description
            == "t.jsonl: read 3 records, kept 2 pairs (1 with an implicit prompt). Truncated to 8 tokens (keep_start): 2 chosen, 0 rejected. Dropped 1 (prompt fills max length: 1)."
    )
    #expect(!d.summary.description.contains("\n"))
}
