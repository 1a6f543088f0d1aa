// libFuzzer target: a Hugging Face tokenizer.json through HFTokenizer (vocabulary, merges, added tokens,
// pre-tokenizer) into a BPETokenizer, which then encodes and decodes a fixed mixed-script text.

import FuzzSupport
import JSON
import ModelFiles
import Tokenizer

private let sample = "Hello, world! <|im_start|>user\n  tabs\tand 123 numbers — ünïcödé 日本語 🙂<|im_end|>"

private func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let node = try? JSONReader.parse(bytes) else { return 0 }
    var notes: [String] = []
    guard let tokenizerData = try? HFTokenizer.tokenizerData(JSONValue(node), path: "tokenizer.json", notes: &notes),
        let tokenizer = try? BPETokenizer(tokenizerData)
    else { return 0 }
    let ids = tokenizer.encode(sample, addSpecialTokens: true)
    _ = tokenizer.decode(ids)
    _ = tokenizer.decode(ids, skipSpecialTokens: true)
    return 0
}

FuzzDriver.run { data, size in
    fuzzTokenizer(data, size)
}
