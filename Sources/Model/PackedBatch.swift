// A padding-free batch: several token sequences laid end to end in one stream of T tokens. Positions
// restart at 0 for every sequence and attention never crosses a segment boundary.

public struct PackedBatch: Sendable, Equatable {
    /// One sequence's place in the stream.
    public struct Segment: Sendable, Equatable {
        public var start: Int
        public var length: Int
        public init(start: Int, length: Int) {
            self.start = start
            self.length = length
        }
        public var range: Range<Int> { start..<(start + length) }
    }

    /// (T) token ids.
    public var tokens: [Int32]
    /// (T) position of each token inside its own sequence.
    public var positions: [Int32]
    /// One per sequence, in order, covering 0..<T without gaps.
    public var segments: [Segment]

    public var tokenCount: Int { tokens.count }
    public var sequenceCount: Int { segments.count }

    /// Packs `sequences` in order. Every sequence must be non-empty.
    public init(sequences: [[Int32]]) {
        var tokens: [Int32] = []
        var positions: [Int32] = []
        var segments: [Segment] = []
        tokens.reserveCapacity(sequences.reduce(0) { $0 + $1.count })
        positions.reserveCapacity(tokens.capacity)
        for s in sequences {
            precondition(!s.isEmpty, "PackedBatch: empty sequence")
            segments.append(Segment(start: tokens.count, length: s.count))
            tokens += s
            positions += (0..<s.count).map { Int32($0) }
        }
        self.tokens = tokens
        self.positions = positions
        self.segments = segments
    }

    public init(sequences: [[Int]]) {
        self.init(sequences: sequences.map { $0.map { Int32($0) } })
    }

    /// The tokens of sequence `i`.
    public func sequence(_ i: Int) -> ArraySlice<Int32> { tokens[segments[i].range] }
}
