// libFuzzer target: a chat template parsed and rendered with a small conversation, under a render budget
// smaller than the default (the same checks, reached sooner, so the fuzzer keeps its pace).

import ChatTemplate
import FuzzSupport
import Foundation

private let messages = [
    ChatMessage(role: "system", content: "You are helpful."),
    ChatMessage(role: "user", content: "Hi <b>there</b>, 'quoted' & \"double\"\n"),
    ChatMessage(role: "assistant", content: "Hello! 🙂"),
    ChatMessage(role: "user", content: ""),
]

private let limits = RenderLimits(
    maxOutputBytes: 1 << 20, maxStringBytes: 1 << 20, maxListItems: 1 << 16, maxCreatedBytes: 16 << 20, maxSteps: 50_000,
    maxMacroDepth: 64)

private func fuzzChatTemplate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let source = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard var template = try? ChatTemplate(source, name: "fuzz") else { return 0 }
    template.limits = limits
    template.fixedDate = Date(timeIntervalSince1970: 1_700_000_000)
    template.timeZone = TimeZone(identifier: "UTC")!
    for addGenerationPrompt in [false, true] {
        _ = try? template.render(messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: "<s>", eosToken: "</s>")
    }
    return 0
}

FuzzDriver.run { data, size in
    fuzzChatTemplate(data, size)
}
