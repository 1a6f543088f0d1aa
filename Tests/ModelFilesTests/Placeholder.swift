import Testing

@Test func placeholderModelFiles() { #expect(Bool(true)) }
