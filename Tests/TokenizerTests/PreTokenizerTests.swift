// The hand-written pre-tokenizer scanners against Python regex on the exact patterns (gpt2, llama3,
// qwen2), and the smollm digit split on small cases.

import Testing
import Tokenizer

@Suite struct PreTokenizerTests {
    @Test(arguments: [PreTokenizer.gpt2, .llama3, .qwen2])
    func splitsMatchRegex(_ preTokenizer: PreTokenizer) throws {
        var mismatches = 0
        for row in try Fixtures.splits().splits {
            let want: [String] =
                switch preTokenizer {
                case .gpt2: row.gpt2
                case .llama3: row.llama3
                default: row.qwen2
                }
            let got = preTokenizer.split(row.text)
            if got != want {
                mismatches += 1
                #expect(got.map(show) == want.map(show), "\(preTokenizer)(\(show(row.text)))")
            }
        }
        #expect(mismatches == 0)
    }

    @Test func smollmIsolatesEveryNumberScalar() {
        #expect(PreTokenizer.smollm.split("a 12") == ["a", " ", "1", "2"])
        #expect(PreTokenizer.smollm.split("x  1") == ["x", "  ", "1"])
        #expect(PreTokenizer.smollm.split("Ⅻ½ 3rd") == ["Ⅻ", "½", " ", "3", "rd"])
        #expect(PreTokenizer.gpt2.split("a 12") == ["a", " 12"])
        #expect(PreTokenizer.smollm.split("") == [])
    }

    @Test func llama3GroupsDigitsByThree() {
        #expect(PreTokenizer.llama3.split("1234567") == ["123", "456", "7"])
        #expect(PreTokenizer.qwen2.split("1234") == ["1", "2", "3", "4"])
        #expect(PreTokenizer.llama3.split("I'M'ſ") == ["I", "'M", "'ſ"])
        #expect(PreTokenizer.gpt2.split("I'M's") == ["I", "'", "M", "'s"])
    }
}
