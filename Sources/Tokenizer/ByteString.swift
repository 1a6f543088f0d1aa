// A String key compared and hashed by its UTF-8 bytes. Swift's String == uses canonical equivalence
// ("\u{2000}" == "\u{2002}", "Å" == "A\u{30A}"), but token and word lookups must be byte-exact.

struct ByteString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: ByteString, b: ByteString) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
