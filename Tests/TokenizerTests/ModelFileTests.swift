// The tokenizer stored in the converted SmolLM2 MTF encodes like the fixture tokenizer (skipped when
// the model has not been converted: set LEANDPO_MODEL or run tools/fetch-model).

import TensorFile
import TestSupport
import Testing
import Tokenizer

@Suite struct ModelFileTests {
    @Test(.enabled(if: TestPaths.smolLM2 != nil, "converted SmolLM2 MTF not present"))
    func mtfTokenizerMatchesFixture() throws {
        let path = try #require(TestPaths.smolLM2)
        let file = try MappedTensorFile(path: path, requireArchitectureTensors: false)
        let tokenizer = try BPETokenizer(file.metadata.tokenizer)
        let reference = try Fixtures.smolLM2()
        #expect(tokenizer.vocabSize == reference.vocabSize)
        #expect(tokenizer.bosTokenId == reference.bosTokenId)
        #expect(tokenizer.eosTokenId == reference.eosTokenId)
        let entries = try Fixtures.encodings().encodings
        for entry in entries.prefix(40) + entries.suffix(20) {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(show(entry.text))")
            #expect(tokenizer.decode(entry.ids) == entry.decoded)
        }
    }
}
