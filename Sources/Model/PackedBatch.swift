// A padding-free batch: several token sequences laid end to end in one stream of T tokens, and which
// logits rows score which tokens. A segment is either an independent sequence (positions 0, 1, …; attends
// only to itself) or a continuation of the first P tokens of an earlier independent segment (its prefix):
// the continuation's tokens sit at positions P, P+1, … and attend to the prefix and to their own earlier
// tokens, never to the rest of that segment. So a preference pair's prompt is computed once:
// [prompt | chosen completion] … [rejected completion ↦ continues the prompt].
// T tokens, N scored tokens.

public struct PackedBatch: Sendable, Equatable {
    /// One segment's place in the stream.
    public struct Segment: Sendable, Equatable {
        public var start: Int
        public var length: Int
        /// Stream rows of the earlier tokens this segment continues (the first tokens of an earlier
        /// independent segment); empty for an independent sequence.
        public var prefix: Range<Int>
        public init(start: Int, length: Int, prefix: Range<Int> = 0..<0) {
            self.start = start
            self.length = length
            self.prefix = prefix
        }
        /// The segment's own rows in the stream.
        public var range: Range<Int> { start..<(start + length) }
        /// Length of the sequence it stands for: prefix plus own tokens.
        public var sequenceLength: Int { prefix.count + length }

        /// Stream row of token `i` of the sequence (prefix tokens first).
        @inline(__always) public func row(_ i: Int) -> Int {
            i < prefix.count ? prefix.lowerBound + i : start + i - prefix.count
        }
    }

    /// (T) token ids.
    public var tokens: [Int32]
    /// (T) position of each token inside its sequence (a continuation's start at its prefix length).
    public var positions: [Int32]
    /// One per sequence, in order, covering 0..<T without gaps.
    public var segments: [Segment]

    public var tokenCount: Int { tokens.count }
    public var sequenceCount: Int { segments.count }
    /// Tokens of all sequences counted as if each were packed alone (a shared prefix once per sequence).
    public var sequenceTokenCount: Int { segments.reduce(0) { $0 + $1.sequenceLength } }

    /// An empty batch to `append` to.
    public init() {
        tokens = []
        positions = []
        segments = []
    }

    /// Packs `sequences` in order, each independent. Every sequence must be non-empty.
    public init(sequences: [[Int32]]) {
        self.init()
        tokens.reserveCapacity(sequences.reduce(0) { $0 + $1.count })
        positions.reserveCapacity(tokens.capacity)
        for s in sequences { append(s) }
    }

    public init(sequences: [[Int]]) {
        self.init(sequences: sequences.map { $0.map { Int32($0) } })
    }

    /// Appends an independent sequence (non-empty); returns its segment index.
    @discardableResult
    public mutating func append(_ sequence: [Int32]) -> Int {
        precondition(!sequence.isEmpty, "PackedBatch: empty sequence")
        segments.append(Segment(start: tokens.count, length: sequence.count))
        tokens += sequence
        positions += (0..<sequence.count).map { Int32($0) }
        return segments.count - 1
    }

    /// Appends `tokens` (non-empty) as the continuation of the first `prefixLength` tokens of independent
    /// segment `segment`: the sequence it stands for is those tokens followed by `tokens`. Returns its
    /// segment index.
    @discardableResult
    public mutating func append(_ continuation: [Int32], continuing segment: Int, prefixLength: Int) -> Int {
        precondition(!continuation.isEmpty, "PackedBatch: empty continuation")
        let base = segments[segment]
        precondition(base.prefix.isEmpty, "PackedBatch: a continuation must continue an independent segment")
        precondition(prefixLength >= 1 && prefixLength <= base.length, "PackedBatch: prefix \(prefixLength) of a \(base.length)-token segment")
        segments.append(Segment(start: tokens.count, length: continuation.count, prefix: base.start..<(base.start + prefixLength)))
        tokens += continuation
        positions += (prefixLength..<(prefixLength + continuation.count)).map { Int32($0) }
        return segments.count - 1
    }

    /// The tokens of sequence `i` (its prefix, then its own tokens).
    public func sequence(_ i: Int) -> [Int32] {
        let s = segments[i]
        return Array(tokens[s.prefix]) + Array(tokens[s.range])
    }

    /// Scoring of `completionRanges[i]`, token indices [start, end) inside sequence i: token t is scored
    /// by the logits at token t−1 of the same sequence (as TRL), so start ≥ 1.
    public func scoring(completionRanges: [Range<Int>]) throws -> ScoredTokens {
        guard completionRanges.count == sequenceCount else {
            throw ModelError.completionRangeCount(got: completionRanges.count, sequences: sequenceCount)
        }
        var out = ScoredTokens()
        out.rows.reserveCapacity(completionRanges.reduce(0) { $0 + $1.count })
        out.targets.reserveCapacity(out.rows.capacity)
        for (i, r) in completionRanges.enumerated() {
            let seg = segments[i]
            guard seg.start >= 0, seg.range.upperBound <= tokens.count, seg.prefix.lowerBound >= 0,
                seg.prefix.upperBound <= seg.start || seg.prefix.isEmpty
            else { throw ModelError.unsupported(what: "malformed PackedBatch: segment \(i) lies outside the \(tokens.count) tokens") }
            guard r.lowerBound >= 1, r.upperBound <= seg.sequenceLength else {
                throw ModelError.badCompletionRange(sequence: i, range: r, length: seg.sequenceLength)
            }
            for t in r {
                out.rows.append(Int32(seg.row(t - 1)))
                out.targets.append(tokens[seg.row(t)])
            }
            out.offsets.append(out.rows.count)
        }
        return out
    }
}

/// Which logits score which tokens: group g (usually one sequence's completion) is entries
/// offsets[g]..<offsets[g+1]; entry n scores token `targets[n]` with the logits at stream row `rows[n]`.
/// Rows may repeat (a shared prompt's last row scores the first token of both completions).
public struct ScoredTokens: Sendable, Equatable {
    /// (N) stream rows.
    public var rows: [Int32] = []
    /// (N) token ids.
    public var targets: [Int32] = []
    /// (groups + 1) entry offsets, starting at 0.
    public var offsets: [Int] = [0]

    public init() {}

    public init(rows: [Int32], targets: [Int32], offsets: [Int]) {
        self.rows = rows
        self.targets = targets
        self.offsets = offsets
    }

    public var count: Int { rows.count }
    public var groupCount: Int { offsets.count - 1 }

    /// Appends one group of (stream row, target token) entries.
    public mutating func append(group: [(row: Int, target: Int32)]) {
        for e in group {
            rows.append(Int32(e.row))
            targets.append(e.target)
        }
        offsets.append(rows.count)
    }
}
