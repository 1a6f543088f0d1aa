import Testing

@Test func placeholderChatTemplate() { #expect(Bool(true)) }
