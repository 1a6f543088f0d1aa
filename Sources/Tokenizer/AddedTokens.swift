// Finds added tokens (special and user-defined) in raw text before BPE, as tokenizers'
// AddedVocabulary does: leftmost-longest matching, then single_word, lstrip and rstrip.

import TensorFile

/// One piece of the input: either an added token (its id) or text still to pre-tokenize.
struct Segment {
    var range: Range<Int>
    var id: Int?
}

/// The added tokens of one matching pass, indexed by first byte.
struct AddedTokenMatcher: Sendable {
    struct Entry: Sendable {
        var bytes: [UInt8]
        var id: Int
        var lstrip: Bool
        var rstrip: Bool
        var singleWord: Bool
    }

    /// Entries starting with each byte, longest first.
    private let byFirstByte: [[Entry]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        var table = [[Entry]](repeating: [], count: 256)
        for token in tokens {
            let bytes = Array(token.content.utf8)
            let entry = Entry(
                bytes: bytes, id: token.id, lstrip: token.lstrip, rstrip: token.rstrip, singleWord: token.singleWord)
            table[Int(bytes[0])].append(entry)
        }
        for i in table.indices { table[i].sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = table
        isEmpty = tokens.isEmpty
    }

    /// The longest entry that matches at byte `i` of `p[..<end]`.
    @inline(__always)
    private func longest(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> Entry? {
        let candidates = byFirstByte[Int(p[i])]
        if candidates.isEmpty { return nil }
        for entry in candidates where entry.bytes.count <= end - i {
            var equal = true
            for (k, byte) in entry.bytes.enumerated() where p[i + k] != byte {
                equal = false
                break
            }
            if equal { return entry }
        }
        return nil
    }

    /// Splits `p[start..<end]` into added tokens and the text between them (AddedVocabulary.find_matches).
    func split(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, into out: inout [Segment]) {
        if isEmpty || start == end {
            if start < end { out.append(Segment(range: start..<end, id: nil)) }
            return
        }
        var startOffset = start
        var i = start
        while i < end {
            guard let entry = longest(p, i, end) else {
                i += 1
                continue
            }
            var matchStart = i
            var matchEnd = i + entry.bytes.count
            // The matcher resumes after the match even when the options below discard it.
            i = matchEnd
            if entry.singleWord {
                let wordBefore = matchStart > start && isWordScalar(scalar(p, scalarStart(before: matchStart, p)).value)
                let wordAfter = matchEnd < end && isWordScalar(scalar(p, matchEnd).value)
                if wordBefore || wordAfter { continue }
            }
            if entry.lstrip {
                var s = matchStart
                while s > start {
                    let previous = scalarStart(before: s, p)
                    if !isSpaceScalar(scalar(p, previous).value) { break }
                    s = previous
                }
                matchStart = max(s, startOffset)
            }
            if entry.rstrip {
                while matchEnd < end {
                    let (v, n) = scalar(p, matchEnd)
                    if !isSpaceScalar(v) { break }
                    matchEnd += n
                }
            }
            if startOffset < matchStart { out.append(Segment(range: startOffset..<matchStart, id: nil)) }
            out.append(Segment(range: matchStart..<matchEnd, id: entry.id))
            startOffset = matchEnd
        }
        if startOffset < end { out.append(Segment(range: startOffset..<end, id: nil)) }
    }
}
