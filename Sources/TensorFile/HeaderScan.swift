// A structural pre-scan of an MTF header's JSON before it is decoded: one pass over the bytes, no
// allocation per value, that rejects absurd arrays (a tensor shape with millions of dimensions, any
// array longer than a real tokenizer's) before the decoder would build them.

enum HeaderScan {
    /// At most this many dimensions in a `shape` array (MTF stores 1 to 4; a little slack for the message).
    static let maxShapeRank = 8
    /// At most this many elements in any array (a vocabulary or merge list is under a few million).
    static let maxArrayCount = 16 << 20
    /// At most this nesting depth.
    static let maxDepth = 64

    /// Throws a one-line reason naming the byte offset of the first absurd array.
    static func check(_ json: UnsafeRawBufferPointer) throws(HeaderScanError) {
        // One frame per open container: is it an array, its element count, the key it was opened under.
        var stack: [(isArray: Bool, count: Int, isShape: Bool)] = []
        var lastKey: ArraySlice<UInt8> = []
        var i = 0
        let n = json.count
        var expectingKey = false
        while i < n {
            let c = json[i]
            switch c {
            case UInt8(ascii: "\""):
                // A string: find its end, honouring escapes; remember it when it is an object key.
                let start = i + 1
                i += 1
                while i < n, json[i] != UInt8(ascii: "\"") { i += json[i] == UInt8(ascii: "\\") ? 2 : 1 }
                if expectingKey, let top = stack.last, !top.isArray {
                    lastKey = ArraySlice(UnsafeRawBufferPointer(rebasing: json[start..<min(i, n)]))
                }
                try countElement(&stack, at: start - 1)
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                try countElement(&stack, at: i)
                guard stack.count < maxDepth else { throw HeaderScanError("nesting deeper than \(maxDepth) at byte \(i)") }
                let inObject = stack.last.map { !$0.isArray } ?? false
                stack.append((c == UInt8(ascii: "["), 0, c == UInt8(ascii: "[") && inObject && Array(lastKey) == Array("shape".utf8)))
                expectingKey = c == UInt8(ascii: "{")
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = stack.popLast()
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = stack.last.map { !$0.isArray } ?? false
            case UInt8(ascii: ":"):
                expectingKey = false
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                break
            default:
                // A number or literal: count it once, then skip to its end.
                try countElement(&stack, at: i)
                while i + 1 < n, !Self.ends(json[i + 1]) { i += 1 }
            }
            i += 1
        }
    }

    private static func ends(_ c: UInt8) -> Bool {
        c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == UInt8(ascii: " ") || c == UInt8(ascii: "\n")
            || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\t") || c == UInt8(ascii: ":")
    }

    /// Counts one element (value) in the innermost array, if the innermost container is an array.
    private static func countElement(_ stack: inout [(isArray: Bool, count: Int, isShape: Bool)], at offset: Int) throws(HeaderScanError) {
        guard let top = stack.last, top.isArray else { return }
        let count = top.count + 1
        stack[stack.count - 1].count = count
        if top.isShape, count > maxShapeRank {
            throw HeaderScanError("a tensor shape has more than \(maxShapeRank) dimensions (byte \(offset) of the header)")
        }
        if count > maxArrayCount {
            throw HeaderScanError("an array has more than \(maxArrayCount) elements (byte \(offset) of the header)")
        }
    }
}

struct HeaderScanError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
