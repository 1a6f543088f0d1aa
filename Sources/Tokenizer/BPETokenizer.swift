// A BPE tokenizer built from TokenizerData, with the ids and decodes of Hugging Face tokenizers: added
// tokens first, then either byte-level BPE (pre-tokenizer, GPT-2 byte alphabet, merges by rank) or
// SentencePiece BPE (normalizer, Metaspace, characters with <0xNN> byte fallback, merges by rank or score).

import TensorFile

/// Encoding runs, in order:
/// 1. added tokens with normalized == false are found in the raw text (leftmost-longest, then single_word,
///    lstrip, rstrip), then those with normalized == true in the text between them;
/// 2. the pre-tokenizer splits each remaining piece into words;
/// 3. each word's bytes become GPT-2 alphabet tokens and are merged by rank. A byte whose alphabet
///    character is not in the vocab is dropped, as tokenizers' BPE does without an unk token (the
///    unk_token of the data is only reported, like tokenizer_config.json's).
/// SentencePiece tokenizers replace steps 2 and 3 with SentencePieceModel.
/// Thread-safe: encodes may run concurrently and share one word cache.
public final class BPETokenizer: Sendable {
    public let kind: TokenizerKind
    /// The byte-level pre-tokenizer; nil for SentencePiece.
    public let preTokenizer: PreTokenizer?
    private let sentencePiece: SentencePieceModel?
    /// Token strings by id (byte-level alphabet; added tokens as written).
    private let vocab: [String]
    private let ids: [ByteString: Int]
    private let model: BPEModel
    /// Added tokens matched in the raw text (normalized == false), then in the pieces left (normalized == true).
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let special: [Bool]
    /// The bytes each id decodes to, concatenated; token i is tokenBytes[tokenOffsets[i]..<tokenOffsets[i + 1]].
    private let tokenBytes: [UInt8]
    private let tokenOffsets: [Int]
    private let cache = WordCache()
    private let addBos: Bool
    private let addEos: Bool

    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    public let unkTokenId: Int?

    public var vocabSize: Int { vocab.count }

    // MARK: - Building and checking

    public init(_ data: TokenizerData) throws {
        kind = data.family
        guard !data.vocab.isEmpty else { throw TokenizerError.emptyVocab }
        let spmOptions: SentencePieceOptions?
        switch kind {
        case .byteLevelBPE:
            guard let preTokenizer = PreTokenizer(rawValue: data.preTokenizer) else {
                throw TokenizerError.unknownPreTokenizer(data.preTokenizer)
            }
            self.preTokenizer = preTokenizer
            spmOptions = nil
        case .sentencePieceBPE:
            guard let options = data.sentencePiece else {
                throw TokenizerError.badSentencePiece("kind is sentencepiece_bpe but the sentencepiece options are missing")
            }
            if let scores = options.scores, scores.count != data.vocab.count {
                throw TokenizerError.badSentencePiece("scores has \(scores.count) entries for \(data.vocab.count) tokens")
            }
            if let types = options.tokenTypes, types.count != data.vocab.count {
                throw TokenizerError.badSentencePiece("token_types has \(types.count) entries for \(data.vocab.count) tokens")
            }
            preTokenizer = nil
            spmOptions = options
        }
        vocab = data.vocab

        var ids: [ByteString: Int] = [:]
        ids.reserveCapacity(data.vocab.count)
        for (id, token) in data.vocab.enumerated() {
            if let first = ids.updateValue(id, forKey: ByteString(token)) {
                // GGUF SentencePiece vocabularies may repeat a piece (unused slots); the first id keeps it.
                if spmOptions?.scores != nil {
                    ids[ByteString(token)] = first
                    continue
                }
                throw TokenizerError.duplicateToken(token: token, firstId: first, secondId: id)
            }
        }
        self.ids = ids

        var merges: [(key: UInt64, value: UInt64)] = []
        merges.reserveCapacity(data.merges.count)
        for (rank, merge) in data.merges.enumerated() {
            guard let (left, right) = TokenizerData.splitMerge(merge) else {
                throw TokenizerError.badMerge(
                    index: rank, merge: merge, reason: "is not two tokens separated by one space")
            }
            guard let a = ids[ByteString(left)] else {
                throw TokenizerError.badMerge(
                    index: rank, merge: merge, reason: "part \(quoted(left)) is not in the vocab")
            }
            guard let b = ids[ByteString(right)] else {
                throw TokenizerError.badMerge(
                    index: rank, merge: merge, reason: "part \(quoted(right)) is not in the vocab")
            }
            guard let merged = ids[ByteString(left + right)] else {
                throw TokenizerError.badMerge(
                    index: rank, merge: merge, reason: "result \(quoted(left + right)) is not in the vocab")
            }
            merges.append((BPEModel.pairKey(Int32(a), Int32(b)), UInt64(rank) << 32 | UInt64(merged)))
        }
        if let options = spmOptions {
            let table =
                if let scores = options.scores {
                    SentencePieceModel.mergesFromScores(vocab: data.vocab, ids: ids, scores: scores, types: options.tokenTypes)
                } else { PairTable(merges) }
            let unk = try options.unkToken.map { token in
                guard let id = ids[ByteString(token)] else { throw TokenizerError.unknownSpecialToken(field: "unk_token", token: token) }
                return id
            }
            sentencePiece = try SentencePieceModel(options, vocab: data.vocab, ids: ids, merges: table, unkId: unk)
            model = BPEModel(byteToken: [Int32](repeating: -1, count: 256), merges: PairTable([]))
        } else {
            let byteToken = ByteLevel.scalarForByte.map { scalar in
                ids[ByteString(String(Character(Unicode.Scalar(scalar)!)))].map(Int32.init) ?? -1
            }
            model = BPEModel(byteToken: byteToken, merges: PairTable(merges))
            sentencePiece = nil
        }

        var special = [Bool](repeating: false, count: data.vocab.count)
        for (index, token) in data.addedTokens.enumerated() {
            func bad(_ reason: String) -> TokenizerError {
                .badAddedToken(index: index, content: token.content, reason: reason)
            }
            guard !token.content.isEmpty else { throw bad("content is empty") }
            guard data.vocab.indices.contains(token.id) else {
                throw bad("id \(token.id) is outside the vocab (0..<\(data.vocab.count))")
            }
            guard data.vocab[token.id] == token.content else {
                throw bad("vocab[\(token.id)] is \(quoted(data.vocab[token.id])), not this token")
            }
            if token.special { special[token.id] = true }
        }
        rawMatcher = AddedTokenMatcher(data.addedTokens.filter { !$0.normalized })
        normalizedMatcher = AddedTokenMatcher(data.addedTokens.filter { $0.normalized })
        self.special = special

        var bytes: [UInt8] = []
        var offsets = [0]
        offsets.reserveCapacity(data.vocab.count + 1)
        for token in data.vocab {
            bytes += kind == .byteLevelBPE ? ByteLevel.bytes(ofToken: token) : Array(token.utf8)
            offsets.append(bytes.count)
        }
        tokenBytes = bytes
        tokenOffsets = offsets

        func lookUp(_ token: String?, _ field: String) throws -> Int? {
            guard let token else { return nil }
            guard let id = ids[ByteString(token)] else {
                throw TokenizerError.unknownSpecialToken(field: field, token: token)
            }
            return id
        }
        bosTokenId = try lookUp(data.bosToken, "bos_token")
        eosTokenId = try lookUp(data.eosToken, "eos_token")
        padTokenId = try lookUp(data.padToken, "pad_token")
        unkTokenId = try lookUp(data.unkToken, "unk_token")
        if data.addBosToken && bosTokenId == nil {
            throw TokenizerError.missingSpecialToken(field: "bos_token", neededBy: "add_bos_token")
        }
        if data.addEosToken && eosTokenId == nil {
            throw TokenizerError.missingSpecialToken(field: "eos_token", neededBy: "add_eos_token")
        }
        addBos = data.addBosToken
        addEos = data.addEosToken
    }

    // MARK: - Lookups

    public func id(of token: String) -> Int? { ids[ByteString(token)] }

    public func token(of id: Int) -> String? { vocab.indices.contains(id) ? vocab[id] : nil }

    /// True for added tokens marked special (skipped by decode(_:skipSpecialTokens: true)).
    public func isSpecial(_ id: Int) -> Bool { special.indices.contains(id) && special[id] }

    // MARK: - Encoding

    /// The ids of `text`. Added tokens in the text are always matched; `addSpecialTokens` only adds
    /// BOS/EOS where the tokenizer data asks for them (add_bos_token, add_eos_token).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var out: [Int] = []
        if addSpecialTokens && addBos, let bos = bosTokenId { out.append(bos) }
        var text = text
        text.withUTF8 { buffer in
            guard let p = buffer.baseAddress else { return }
            out.reserveCapacity(out.count + buffer.count / 3)
            encodeBytes(p, buffer.count, into: &out)
        }
        if addSpecialTokens && addEos, let eos = eosTokenId { out.append(eos) }
        return out
    }

    private func encodeBytes(_ p: UnsafePointer<UInt8>, _ count: Int, into out: inout [Int]) {
        var pieces: [Segment] = []
        rawMatcher.split(p, 0, count, into: &pieces)
        if !normalizedMatcher.isEmpty {
            var refined: [Segment] = []
            for piece in pieces {
                if piece.id != nil {
                    refined.append(piece)
                } else {
                    normalizedMatcher.split(p, piece.range.lowerBound, piece.range.upperBound, into: &refined)
                }
            }
            pieces = refined
        }
        var scratch = BPEScratch()
        if let spm = sentencePiece {
            for piece in pieces {
                if let id = piece.id {
                    out.append(id)
                } else {
                    spm.encode(
                        p, piece.range.lowerBound, piece.range.upperBound, &scratch, cache: cache,
                        wholeWord: { word in
                            self.ids[ByteString(String(decoding: word, as: UTF8.self))]
                        }, into: &out)
                }
            }
            return
        }
        guard let preTokenizer else { return }
        var wordIds: [Int32] = []
        for piece in pieces {
            if let id = piece.id {
                out.append(id)
                continue
            }
            preTokenizer.forEachPiece(p, piece.range.lowerBound, piece.range.upperBound) { word in
                if word.count == 1 {
                    let id = model.byteToken[Int(p[word.lowerBound])]
                    if id >= 0 { out.append(Int(id)) }
                    return
                }
                let start = p + word.lowerBound
                let hash = WordCache.hash(start, word.count)
                if cache.lookUp(start, word.count, hash: hash, into: &out) { return }
                wordIds.removeAll(keepingCapacity: true)
                model.encodeWord(p, word.lowerBound, word.upperBound, &scratch, into: &wordIds)
                if word.count <= WordCache.maxWordBytes { cache.insert(start, word.count, hash: hash, ids: wordIds) }
                for id in wordIds { out.append(Int(id)) }
            }
        }
    }

    // MARK: - Decoding

    /// The text of `ids`: each token's bytes (byte-level alphabet undone), invalid UTF-8 replaced by
    /// U+FFFD as tokenizers does; SentencePiece runs its decoder steps. Ids outside the vocab are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        if let spm = sentencePiece {
            let kept = ids.filter { $0 >= 0 && $0 < vocab.count && !(skipSpecialTokens && special[$0]) }
            return spm.decode(kept.map { vocab[$0] }, ids: kept)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && id < vocab.count {
            if skipSpecialTokens && special[id] { continue }
            bytes.append(contentsOf: tokenBytes[tokenOffsets[id]..<tokenOffsets[id + 1]])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
