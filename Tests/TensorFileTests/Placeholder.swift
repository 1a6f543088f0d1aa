import Testing

@Test func placeholderTensorFile() { #expect(Bool(true)) }
