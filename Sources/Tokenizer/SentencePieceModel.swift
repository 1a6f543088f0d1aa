// SentencePiece-style BPE on the text between added tokens, as Hugging Face tokenizers runs a Llama/Gemma
// tokenizer.json (normalizer, Metaspace, BPE with byte_fallback) and llama.cpp runs a GGUF "llama" model.

import TensorFile

/// The encoder and decoder of one SentencePiece tokenizer. Merges come either from a merges list (rank =
/// position, tokenizer.json) or from GGUF scores (rank = place of the merged piece's score, highest first,
/// equal scores sharing a rank so the leftmost pair wins, as in llama.cpp's llm_tokenizer_spm).
struct SentencePieceModel: Sendable {
    static let spaceMark = Array("\u{2581}".utf8)

    enum PrependScheme: String { case always, first, never }

    private let normalizer: [(prepend: Bool, pattern: [UInt8], content: [UInt8])]
    private let metaspace: (replacement: [UInt8], scheme: PrependScheme, split: Bool)?
    private let decoder: [SentencePieceStep]
    /// Token id of each ASCII character, -1 when the vocab has none.
    private let asciiToken: [Int32]
    /// Token id of every other single-scalar token.
    private let scalarToken: [UInt32: Int32]
    /// `<0xNN>` token of each byte, -1 when missing.
    private let byteToken: [Int32]
    /// The byte a `<0xNN>` token stands for (decoder byte_fallback), by id; -1 otherwise.
    private let byteOfToken: [Int16]
    private let unkId: Int32?
    private let byteFallback: Bool
    private let fuseUnk: Bool
    private let ignoreMerges: Bool
    private let merges: PairTable

    init(
        _ options: SentencePieceOptions, vocab: [String], ids: [ByteString: Int], merges: PairTable, unkId: Int?
    ) throws {
        var normalizer: [(Bool, [UInt8], [UInt8])] = []
        for (i, step) in options.normalizer.enumerated() {
            switch step.type {
            case "prepend":
                normalizer.append((true, [], Array((step.content ?? "").utf8)))
            case "replace":
                guard let pattern = step.pattern, !pattern.isEmpty else {
                    throw TokenizerError.badSentencePiece("normalizer[\(i)]: replace needs a non-empty pattern")
                }
                normalizer.append((false, Array(pattern.utf8), Array((step.content ?? "").utf8)))
            default:
                throw TokenizerError.badSentencePiece("normalizer[\(i)]: step \(quoted(step.type)) is not prepend or replace")
            }
        }
        self.normalizer = normalizer
        if let m = options.metaspace {
            guard let scheme = PrependScheme(rawValue: m.prependScheme) else {
                throw TokenizerError.badSentencePiece("metaspace.prepend_scheme \(quoted(m.prependScheme)) is not always, first or never")
            }
            guard m.replacement.unicodeScalars.count == 1 else {
                throw TokenizerError.badSentencePiece("metaspace.replacement \(quoted(m.replacement)) is not one character")
            }
            metaspace = (Array(m.replacement.utf8), scheme, m.split)
        } else {
            metaspace = nil
        }
        for (i, step) in options.decoder.enumerated() {
            switch step.type {
            case "replace" where step.pattern?.isEmpty == false, "byte_fallback", "fuse", "strip":
                break
            case "metaspace" where step.pattern?.unicodeScalars.count == 1:
                guard PrependScheme(rawValue: step.prependScheme ?? "always") != nil else {
                    throw TokenizerError.badSentencePiece("decoder[\(i)]: prepend_scheme \(quoted(step.prependScheme ?? "")) is unknown")
                }
            default:
                throw TokenizerError.badSentencePiece(
                    "decoder[\(i)]: step \(quoted(step.type)) is not replace, byte_fallback, fuse, strip or metaspace (or lacks its pattern)")
            }
        }
        decoder = options.decoder

        var ascii = [Int32](repeating: -1, count: 128)
        var scalars: [UInt32: Int32] = [:]
        var byteOfToken = [Int16](repeating: -1, count: vocab.count)
        for (id, token) in vocab.enumerated() {
            var it = token.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil, ids[ByteString(token)] == id {
                if first.value < 128 { ascii[Int(first.value)] = Int32(id) } else { scalars[first.value] = Int32(id) }
            }
            if let b = Self.byteValue(token) { byteOfToken[id] = Int16(b) }
        }
        asciiToken = ascii
        scalarToken = scalars
        byteToken = (0..<256).map { b in ids[ByteString(Self.byteTokenName(UInt8(b)))].map(Int32.init) ?? -1 }
        self.byteOfToken = byteOfToken
        self.unkId = unkId.map(Int32.init)
        byteFallback = options.byteFallback
        fuseUnk = options.fuseUnk
        ignoreMerges = options.ignoreMerges
        self.merges = merges
    }

    /// "<0x0A>": tokenizers' format!("<{:#04X}>", byte).
    static func byteTokenName(_ byte: UInt8) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)]) + ">"
    }

    /// The byte of a "<0xNN>" token (either hex case, as tokenizers' from_str_radix accepts), else nil.
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    // MARK: - Merge table from GGUF scores

    /// Every (left, right) split of a piece into two vocab pieces, ranked by the merged piece's score
    /// (highest first; equal scores share a rank). Control and byte tokens are never merge results.
    static func mergesFromScores(vocab: [String], ids: [ByteString: Int], scores: [Float], types: [Int]?) -> PairTable {
        let distinct = Array(Set(scores)).sorted(by: >)
        var rankOfScore: [Float: UInt64] = [:]
        for (rank, score) in distinct.enumerated() { rankOfScore[score] = UInt64(rank) }
        var entries: [(key: UInt64, value: UInt64)] = []
        for (id, token) in vocab.enumerated() {
            let type = types?[id] ?? 1
            if type == 3 || type == 6 { continue }
            let scalars = Array(token.unicodeScalars)
            if scalars.count < 2 { continue }
            let rank = rankOfScore[scores[id]] ?? 0
            var left = ""
            for k in 1..<scalars.count {
                left.unicodeScalars.append(scalars[k - 1])
                var right = ""
                right.unicodeScalars.append(contentsOf: scalars[k...])
                guard let a = ids[ByteString(left)], let b = ids[ByteString(right)] else { continue }
                entries.append((BPEModel.pairKey(Int32(a), Int32(b)), rank << 32 | UInt64(id)))
            }
        }
        return PairTable(entries)
    }

    // MARK: - Encoding

    /// Appends the ids of `p[start..<end]`, a piece of text between added tokens (`start` is its offset in
    /// the input, which decides Metaspace's "first" scheme).
    func encode(
        _ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ scratch: inout BPEScratch, cache: WordCache,
        wholeWord: (UnsafeBufferPointer<UInt8>) -> Int?, into out: inout [Int]
    ) {
        var text = Array(UnsafeBufferPointer(start: p + start, count: end - start))
        for step in normalizer {
            if step.prepend {
                if !text.isEmpty { text = step.content + text }
            } else {
                text = Self.replacing(text, step.pattern, step.content)
            }
        }
        var wordStarts = [0]
        if let m = metaspace {
            text = Self.replacing(text, [0x20], m.replacement)
            let prepend =
                switch m.scheme {
                case .always: true
                case .first: start == 0
                case .never: false
                }
            if prepend && !text.starts(with: m.replacement) { text = m.replacement + text }
            if m.split {
                var i = 1
                while i + m.replacement.count <= text.count {
                    if text[i] == m.replacement[0] && text[i..<i + m.replacement.count].elementsEqual(m.replacement) {
                        wordStarts.append(i)
                        i += m.replacement.count
                    } else {
                        i += 1
                    }
                }
            }
        }
        if text.isEmpty { return }
        wordStarts.append(text.count)
        var wordIds: [Int32] = []
        text.withUnsafeBufferPointer { buffer in
            for w in 0..<wordStarts.count - 1 where wordStarts[w] < wordStarts[w + 1] {
                let range = wordStarts[w]..<wordStarts[w + 1]
                if ignoreMerges, let id = wholeWord(UnsafeBufferPointer(rebasing: buffer[range])) {
                    out.append(id)
                    continue
                }
                // Words (whole text pieces when Metaspace does not split) repeat; tokenizers caches them too.
                let word = buffer.baseAddress! + range.lowerBound
                let cacheable = range.count <= WordCache.maxWordBytes
                let hash = cacheable ? WordCache.hash(word, range.count) : 0
                if cacheable && cache.lookUp(word, range.count, hash: hash, into: &out) { continue }
                wordIds.removeAll(keepingCapacity: true)
                encodeWord(buffer.baseAddress!, range, &scratch, into: &wordIds)
                if cacheable { cache.insert(word, range.count, hash: hash, ids: wordIds) }
                for id in wordIds { out.append(Int(id)) }
            }
        }
    }

    /// tokenizers' BPE::merge_word: each character is its token, or its <0xNN> tokens, or unk (fused when
    /// fuse_unk); then pairs merge by rank.
    private func encodeWord(
        _ p: UnsafePointer<UInt8>, _ range: Range<Int>, _ scratch: inout BPEScratch, into out: inout [Int32]
    ) {
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        func add(_ id: Int32) {
            scratch.prev.append(Int32(scratch.ids.count) - 1)
            scratch.ids.append(id)
            scratch.next.append(Int32(scratch.ids.count))
        }
        var pendingUnk = false
        var i = range.lowerBound
        while i < range.upperBound {
            let (value, length) = scalar(p, i)
            var id: Int32 = -1
            if value < 128 { id = asciiToken[Int(value)] } else if let t = scalarToken[value] { id = t }
            if id >= 0 {
                if pendingUnk, let unk = unkId { add(unk) }
                pendingUnk = false
                add(id)
            } else if byteFallback && (0..<length).allSatisfy({ byteToken[Int(p[i + $0])] >= 0 }) {
                for k in 0..<length { add(byteToken[Int(p[i + k])]) }
            } else if let unk = unkId {
                if pendingUnk && !fuseUnk { add(unk) }
                pendingUnk = true
            }
            i += length
        }
        if pendingUnk, let unk = unkId { add(unk) }
        BPEModel.mergeSymbols(&scratch, merges, into: &out)
    }

    static func replacing(_ text: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, text.count >= pattern.count else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 2)
        var i = 0
        while i < text.count {
            if text[i] == pattern[0] && i + pattern.count <= text.count
                && text[i..<i + pattern.count].elementsEqual(pattern)
            {
                out += content
                i += pattern.count
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    // MARK: - Decoding

    /// tokenizers' decoder chain over the token strings, then joined.
    func decode(_ tokens: [String], ids: [Int]) -> String {
        var tokens = tokens
        var ids: [Int]? = ids  // byte_fallback reads ids; after fuse the strings no longer match ids
        for step in decoder {
            switch step.type {
            case "replace":
                let pattern = step.pattern ?? ""
                let content = step.content ?? ""
                tokens = tokens.map { $0.replacingAll(pattern, with: content) }
            case "byte_fallback":
                var out: [String] = []
                var outIds: [Int] = []
                var pending: [UInt8] = []
                func flush() {
                    if pending.isEmpty { return }
                    if let s = String(validating: pending, as: UTF8.self) {
                        out.append(s)
                        outIds.append(-1)
                    } else {
                        for _ in pending {
                            out.append("\u{FFFD}")
                            outIds.append(-1)
                        }
                    }
                    pending.removeAll()
                }
                for (k, token) in tokens.enumerated() {
                    let byte: UInt8? =
                        if let ids, ids[k] >= 0, ids[k] < byteOfToken.count {
                            byteOfToken[ids[k]] >= 0 ? UInt8(byteOfToken[ids[k]]) : nil
                        } else { Self.byteValue(token) }
                    if let byte {
                        pending.append(byte)
                    } else {
                        flush()
                        out.append(token)
                        outIds.append(ids?[k] ?? -1)
                    }
                }
                flush()
                tokens = out
                ids = outIds
            case "fuse":
                tokens = [tokens.joined()]
                ids = nil
            case "strip":
                // By scalars, as Rust's chars: " \u{301}" is one Character but starts with a space.
                let c = step.content?.unicodeScalars.first ?? " "
                let startCount = step.start ?? 0
                let stopCount = step.stop ?? 0
                tokens = tokens.map { token in
                    let scalars = Array(token.unicodeScalars)
                    var head = 0
                    while head < startCount && head < scalars.count && scalars[head] == c { head += 1 }
                    var tail = 0
                    while tail < stopCount && tail < scalars.count - head && scalars[scalars.count - 1 - tail] == c { tail += 1 }
                    var out = String.UnicodeScalarView()
                    out.append(contentsOf: scalars[head..<scalars.count - tail])
                    return String(out)
                }
            case "metaspace":
                let mark = step.pattern?.unicodeScalars.first ?? "\u{2581}"
                let dropFirst = (step.prependScheme ?? "always") != "never"
                tokens = tokens.enumerated().map { k, token in
                    var s = String.UnicodeScalarView()
                    for u in token.unicodeScalars {
                        if u == mark {
                            if !(k == 0 && dropFirst) { s.append(" ") }
                        } else {
                            s.append(u)
                        }
                    }
                    return String(s)
                }
            default:
                break  // rejected in init
            }
        }
        return tokens.joined()
    }
}

extension String {
    /// Byte-exact replace of every occurrence (String.replacing would compare by canonical equivalence).
    func replacingAll(_ pattern: String, with content: String) -> String {
        guard !pattern.isEmpty else { return self }
        return String(
            decoding: SentencePieceModel.replacing(Array(utf8), Array(pattern.utf8), Array(content.utf8)), as: UTF8.self)
    }
}
