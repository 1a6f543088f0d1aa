// GPT-2's byte-to-unicode alphabet: every byte has one printable stand-in character, so byte-level BPE
// vocabularies are plain strings (space is "Ġ" U+0120, newline is "Ċ" U+010A).

enum ByteLevel {
    /// The stand-in scalar for each byte (bytes_to_unicode in GPT-2's encoder.py).
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var shifted: UInt32 = 0
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = 256 + shifted
                shifted += 1
            }
        }
        return table
    }()

    /// The byte a stand-in scalar encodes, or nil if the scalar is not in the alphabet.
    static func byte(for scalar: UInt32) -> UInt8? {
        if scalar < 256 { return isPrintable(UInt8(scalar)) ? UInt8(scalar) : nil }
        let index = Int(scalar) - 256
        return index < shiftedBytes.count ? shiftedBytes[index] : nil
    }

    /// The 68 bytes mapped above U+00FF, in order.
    private static let shiftedBytes: [UInt8] = (0...255).map(UInt8.init).filter { !isPrintable($0) }

    private static func isPrintable(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The bytes a vocab token stands for. Tokens with a character outside the alphabet (added tokens
    /// such as " my ") decode to their own UTF-8, as the tokenizers ByteLevel decoder does.
    static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar.value) else { return Array(token.utf8) }
            out.append(byte)
        }
        return out
    }
}
