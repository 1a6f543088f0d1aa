// Prints encode throughput on about 10 MB of mixed text (the fixture strings repeated); asserts only
// that the ids are the concatenation of the per-string ids, never anything about time.

import Foundation
import Testing
import Tokenizer

@Suite struct ThroughputTests {
    @Test func encodeTenMegabytes() throws {
        let tokenizer = try BPETokenizer(try Fixtures.smolLM2Data())  // fresh: its word cache starts empty
        // Joined by <|endoftext|>, like documents: an added token ends every piece, so the ids concatenate.
        let pieces = try Fixtures.encodings().encodings
        let separator = "<|endoftext|>"
        let separatorIds = [0]
        var unit = ""
        var unitIds: [Int] = []
        for entry in pieces {
            unit += separator + entry.text
            unitIds += separatorIds + entry.ids
        }
        let repeats = max(1, 10_000_000 / unit.utf8.count)
        let text = String(repeating: unit, count: repeats)
        let started = DispatchTime.now().uptimeNanoseconds
        let ids = tokenizer.encode(text)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let megabytes = Double(text.utf8.count) / 1e6
        print(
            String(
                format: "Tokenizer throughput: %.1f MB in %.2f s = %.1f MB/s (%d tokens)", megabytes, seconds,
                megabytes / seconds, ids.count))
        let same =
            ids.count == unitIds.count * repeats
            && (0..<repeats).allSatisfy { r in
                ids[(r * unitIds.count)..<((r + 1) * unitIds.count)].elementsEqual(unitIds)
            }
        #expect(same, "ids of the repeated text are not the repeated ids")
    }
}

@Suite struct SentencePieceThroughputTests {
    /// The SentencePiece fixture strings joined by </s> (about 5 MB), encoded with the Llama-2-style tokenizer:
    /// prints MB/s; asserts only that the ids are the per-string ids with </s> between them.
    @Test func encodeFiveMegabytes() throws {
        let fixture = try SPMFixtures.encodings()
        let v = try #require(fixture.variants["llama_hub"])
        let tokenizer = try BPETokenizer(try SPMFixtures.fileData("llama_hub"))
        let eos = try #require(tokenizer.id(of: "</s>"))
        var unit = ""
        var unitIds: [Int] = []
        for (i, s) in fixture.strings.enumerated() where !s.isEmpty {
            unit += s + "</s>"
            unitIds += tokenizer.encode(s, addSpecialTokens: false) + [eos]
            #expect(Array(v.ids[i].dropFirst()) == tokenizer.encode(s, addSpecialTokens: false))
        }
        let repeats = max(1, 5_000_000 / unit.utf8.count)
        let text = String(repeating: unit, count: repeats)
        let started = DispatchTime.now().uptimeNanoseconds
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let megabytes = Double(text.utf8.count) / 1e6
        print(
            String(
                format: "SentencePiece tokenizer throughput: %.1f MB in %.2f s = %.1f MB/s (%d tokens)", megabytes, seconds,
                megabytes / seconds, ids.count))
        #expect(ids.count == unitIds.count * repeats && Array(ids.prefix(unitIds.count)) == unitIds)

        // Cold: about 2 MB of pieces that never repeat (pairs of fixture strings), so the word cache never hits.
        let strings = fixture.strings.filter { !$0.isEmpty && $0.utf8.count < 200 }
        var cold = ""
        var k = 0
        while cold.utf8.count < 2_000_000 {
            cold += strings[k % strings.count] + " " + strings[(k / strings.count + 7 * k) % strings.count] + "</s>"
            k += 1
        }
        let fresh = try BPETokenizer(try SPMFixtures.fileData("llama_hub"))
        let coldStart = DispatchTime.now().uptimeNanoseconds
        let coldIds = fresh.encode(cold, addSpecialTokens: false)
        let coldSeconds = Double(DispatchTime.now().uptimeNanoseconds - coldStart) / 1e9
        let coldMB = Double(cold.utf8.count) / 1e6
        print(String(format: "SentencePiece tokenizer, no repeats: %.1f MB in %.2f s = %.1f MB/s", coldMB, coldSeconds, coldMB / coldSeconds))
        #expect(fresh.decode(coldIds) == tokenizer.decode(tokenizer.encode(cold, addSpecialTokens: false)))
    }
}
