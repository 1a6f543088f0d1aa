// TRL's (current) preference tokenization: prompt alone and prompt+completion tokenized jointly, the completion
// taken after their common prefix, EOS text appended to plain completions, per-sequence truncation to max_length.
// Mirrors DPOTrainer._prepare_dataset and DataCollatorForPreference (trl 1.16); batching and padding are not here.

// MARK: - Options

public enum TruncationMode: String, Sendable, CaseIterable {
    /// `ids[:max_length]`; pairs whose prompt alone fills max_length are dropped (TRL's default).
    case keepStart = "keep_start"
    /// `ids[-max_length:]` (deprecated in TRL, kept for parity); nothing is dropped.
    case keepEnd = "keep_end"
}

public struct DataOptions: Sendable {
    /// Longest prompt+completion sequence; nil: no truncation. Must be ≥ 2 (the CLI validates it).
    public var maxLength: Int?
    public var truncation: TruncationMode
    /// Skip and count invalid records instead of stopping at the first one.
    public var skipInvalid: Bool

    /// The defaults are TrainArguments' (`max_length` and `truncation_mode` have one default each).
    public init(
        maxLength: Int? = TrainArguments().maxLength, truncation: TruncationMode = TrainArguments().truncationMode, skipInvalid: Bool = false
    ) {
        self.maxLength = maxLength
        self.truncation = truncation
        self.skipInvalid = skipInvalid
    }
}

// MARK: - Output

/// One model input: prompt tokens then completion tokens, after truncation.
/// `completion_mask` is 1 at positions ≥ `completionStart`. Token t is scored by the logits at t-1, so the
/// scored tokens (TRL's shifted mask) are positions ≥ max(completionStart, 1).
public struct TokenSequence: Sendable, Equatable {
    public var ids: [Int]
    public var completionStart: Int
    public var wasTruncated: Bool

    public init(ids: [Int], completionStart: Int, wasTruncated: Bool) {
        precondition(completionStart >= 0 && completionStart <= ids.count)
        self.ids = ids
        self.completionStart = completionStart
        self.wasTruncated = wasTruncated
    }

    /// `completion_mask.sum()`: what IPO and sigmoid_norm divide by.
    public var completionTokens: Int { ids.count - completionStart }
    /// `completion_mask[1:].sum()`: the tokens whose log-probs are summed (and what sft, simpo and orpo average over).
    public var scoredTokens: Int { max(0, ids.count - max(completionStart, 1)) }
}

public struct TokenizedPair: Sendable, Equatable {
    /// TRL's `prompt_ids`, `chosen_ids`, `rejected_ids` (the prompt cut to the common prefix; nothing truncated).
    public var promptIds: [Int]
    public var chosenIds: [Int]
    public var rejectedIds: [Int]
    /// What the model sees: prompt+chosen and prompt+rejected, each truncated on its own.
    public var chosen: TokenSequence
    public var rejected: TokenSequence
    public var location: RecordLocation

    /// min of the two scored lengths: the "shared" part for `ld_alpha`; scored tokens beyond it are the tail.
    public var sharedScoredTokens: Int { min(chosen.scoredTokens, rejected.scoredTokens) }
}

public enum DropReason: String, Sendable, Hashable, CaseIterable, Comparable {
    case promptTooLong = "prompt fills max length"
    case emptyCompletion = "empty completion after tokenization"

    public static func < (a: DropReason, b: DropReason) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public enum DataWarning: String, Sendable, Hashable, CaseIterable, Comparable {
    /// The tokenized prompt is not a prefix of tokenized prompt+completion (TRL logs this once); the completion
    /// starts where they diverge and the prompt's tail is left out.
    case promptNotPrefix = "prompt tokens not a prefix of prompt+completion tokens"
    /// A sequence begins with two BOS tokens (only checked when the context knows the BOS id).
    case doubleBOS = "sequence starts with two BOS tokens"

    public static func < (a: DataWarning, b: DataWarning) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// What happened to a file's records, for the user.
public struct DataSummary: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var recordsRead = 0
    public var pairsKept = 0
    public var conversational = 0
    public var implicitPrompts = 0
    public var truncatedChosen = 0
    public var truncatedRejected = 0
    public var dropped: [DropReason: Int] = [:]
    public var skippedInvalid: [DataError.Kind: Int] = [:]
    public var warnings: [DataWarning: Int] = [:]
    public var maxLength: Int?
    public var truncation: TruncationMode = .keepStart
    /// Unpaired (KTO) data: `pairsKept` counts examples, `desirable` of them labelled true, `unpairedFromPairs`
    /// of them halves of paired records; truncation is counted in `truncatedChosen`.
    public var unpaired = false
    public var desirable = 0
    public var unpairedFromPairs = 0

    public init(file: String) { self.file = file }

    /// One paragraph, e.g. "train.jsonl: read 1000 records, kept 990 pairs (990 conversational, 12 with an
    /// implicit prompt). Truncated to 1024 tokens (keep_start): 12 chosen, 15 rejected. Dropped 3 (prompt fills
    /// max length: 3). Skipped 7 invalid (malformed JSON: 2, chosen == rejected: 5). Warnings: ..."
    public var description: String {
        let unit = unpaired ? "example" : "pair"
        var s = "\(file): read \(recordsRead) record\(recordsRead == 1 ? "" : "s"), kept \(pairsKept) \(unit)\(pairsKept == 1 ? "" : "s")"
        var kinds: [String] = []
        if unpaired {
            kinds.append("\(desirable) desirable, \(pairsKept - desirable) undesirable")
            if unpairedFromPairs > 0 { kinds.append("\(unpairedFromPairs) unpaired from chosen/rejected pairs") }
        }
        if conversational > 0 { kinds.append("\(conversational) conversational") }
        if implicitPrompts > 0 { kinds.append("\(implicitPrompts) with an implicit prompt") }
        s += kinds.isEmpty ? "." : " (" + kinds.joined(separator: ", ") + ")."
        if let maxLength {
            if unpaired, truncatedChosen > 0 {
                s += " Truncated to \(maxLength) tokens (keep_start): \(truncatedChosen)."
            } else if truncatedChosen + truncatedRejected > 0 {
                s += " Truncated to \(maxLength) tokens (\(truncation.rawValue)): \(truncatedChosen) chosen, \(truncatedRejected) rejected."
            } else {
                s += " Nothing truncated (max \(maxLength) tokens)."
            }
        }
        if !dropped.isEmpty {
            s += " Dropped \(dropped.values.reduce(0, +)) (" + Self.list(dropped) + ")."
        }
        if !skippedInvalid.isEmpty {
            s += " Skipped \(skippedInvalid.values.reduce(0, +)) invalid (" + Self.list(skippedInvalid) + ")."
        }
        if !warnings.isEmpty {
            s +=
                " Warnings: "
                + warnings.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) in \($0.value) pair\($0.value == 1 ? "" : "s")" }
                .joined(separator: "; ") + "."
        }
        return s
    }

    private static func list<K: RawRepresentable & Comparable>(_ counts: [K: Int]) -> String where K.RawValue == String {
        counts.sorted { $0.key < $1.key }.map { "\($0.key.rawValue): \($0.value)" }.joined(separator: ", ")
    }
}

// MARK: - Tokenization

public enum PreferenceTokenization {
    public enum Outcome: Sendable, Equatable {
        case kept(TokenizedPair, warnings: [DataWarning])
        case dropped(DropReason)
    }

    /// Tokenizes one record as TRL does. Throws `DataError` (`.chatTemplate`, `.tokenizer`) naming the record.
    public static func tokenize(
        _ record: PreferenceRecord, context: TokenizationContext, options: DataOptions
    ) throws(DataError) -> Outcome {
        let location = record.location
        var promptIds: [Int]
        let promptChosenIds: [Int]
        let promptRejectedIds: [Int]

        switch record.content {
        case .text(let prompt, let chosen, let rejected):
            // dt add_eos: `if not chosen.endswith(eos_token): chosen += eos_token` (code points, like Python)
            func withEOS(_ s: String) -> String {
                guard let eos = context.eosToken, !eos.isEmpty, !s.unicodeScalars.reversed().starts(with: eos.unicodeScalars.reversed())
                else { return s }
                return s + eos
            }
            promptIds = try encode(prompt, special: true, field: "prompt", context, location)
            promptChosenIds = try encode(prompt + withEOS(chosen), special: true, field: "chosen", context, location)
            promptRejectedIds = try encode(prompt + withEOS(rejected), special: true, field: "rejected", context, location)

        case .conversation(let prompt, let chosen, let rejected):
            guard let render = context.renderChat else {
                throw DataError(
                    .chatTemplate, location, "conversational records need a chat template, and the model has none")
            }
            func rendered(_ messages: [ChatMessage], generationPrompt: Bool, field: String) throws(DataError) -> String {
                do { return try render(messages, generationPrompt) } catch {
                    throw DataError(.chatTemplate, location, field: field, "chat template failed: \(error)")
                }
            }
            let p = try rendered(prompt, generationPrompt: true, field: "prompt")
            let pc = try rendered(prompt + chosen, generationPrompt: false, field: "chosen")
            let pr = try rendered(prompt + rejected, generationPrompt: false, field: "rejected")
            promptIds = try encode(p, special: false, field: "prompt", context, location)
            promptChosenIds = try encode(pc, special: false, field: "chosen", context, location)
            promptRejectedIds = try encode(pr, special: false, field: "rejected", context, location)
        }

        // dt tokenize_fn: the completion starts where prompt and prompt+completion diverge.
        var warnings: [DataWarning] = []
        let promptLength = min(
            commonPrefixLength(promptIds, promptChosenIds), commonPrefixLength(promptIds, promptRejectedIds))
        if promptLength < promptIds.count { warnings.append(.promptNotPrefix) }
        promptIds.removeLast(promptIds.count - promptLength)
        let chosenIds = Array(promptChosenIds[promptLength...])
        let rejectedIds = Array(promptRejectedIds[promptLength...])

        // dt: drop examples whose prompt alone fills max_length under keep_start.
        if let maxLength = options.maxLength, options.truncation == .keepStart, promptIds.count >= maxLength {
            return .dropped(.promptTooLong)
        }
        if chosenIds.isEmpty || rejectedIds.isEmpty { return .dropped(.emptyCompletion) }
        if let bos = context.bosTokenId, promptChosenIds.starts(with: [bos, bos]) { warnings.append(.doubleBOS) }

        let pair = TokenizedPair(
            promptIds: promptIds, chosenIds: chosenIds, rejectedIds: rejectedIds,
            chosen: sequence(prompt: promptIds, completion: chosenIds, options: options),
            rejected: sequence(prompt: promptIds, completion: rejectedIds, options: options),
            location: location)
        return .kept(pair, warnings: warnings)
    }

    /// The collator's per-sequence truncation of prompt+completion (and of its completion mask).
    public static func sequence(prompt: [Int], completion: [Int], options: DataOptions) -> TokenSequence {
        var ids = prompt + completion
        var start = prompt.count
        guard let maxLength = options.maxLength, ids.count > maxLength else {
            return TokenSequence(ids: ids, completionStart: start, wasTruncated: false)
        }
        precondition(maxLength >= 2, "maxLength must be at least 2")
        switch options.truncation {
        case .keepStart:
            ids.removeLast(ids.count - maxLength)
            start = min(start, maxLength)
        case .keepEnd:
            let cut = ids.count - maxLength
            ids.removeFirst(cut)
            start = max(0, start - cut)
        }
        return TokenSequence(ids: ids, completionStart: start, wasTruncated: true)
    }

    /// trl.data_utils.common_prefix_length.
    public static func commonPrefixLength(_ a: [Int], _ b: [Int]) -> Int {
        var n = 0
        while n < a.count, n < b.count, a[n] == b[n] { n += 1 }
        return n
    }

    static func encode(
        _ text: String, special: Bool, field: String, _ context: TokenizationContext, _ location: RecordLocation
    ) throws(DataError) -> [Int] {
        do { return try context.encode(text, special) } catch {
            throw DataError(.tokenizer, location, field: field, "tokenizer failed: \(error)")
        }
    }
}

// MARK: - Dataset

/// A tokenized preference file: the pairs in file order and what happened on the way.
public struct PreferenceDataset: Sendable {
    public var pairs: [TokenizedPair]
    public var summary: DataSummary
    /// The first few errors of skipped records (with `skipInvalid`), to show the user what was wrong.
    public var skippedExamples: [DataError]
    /// Unpaired (KTO) data: each example's label; `pairs` then hold (completion, KL completion) sequences
    /// (`UnpairedDataset.scoringPairs`).
    public var labels: [Bool]? = nil

    /// Reads, validates and tokenizes a file. Throws `DataError`; with `skipInvalid`, invalid records (including
    /// ones the chat template or tokenizer reject) are counted instead, and only file-level problems throw.
    /// A file that leaves no pair throws `.noPairs`.
    public static func load(path: String, context: TokenizationContext, options: DataOptions = DataOptions()) throws
        -> PreferenceDataset
    {
        try make(PreferenceData.load(path: path, skipInvalid: options.skipInvalid), context: context, options: options)
    }

    public static func make(_ records: PreferenceRecords, context: TokenizationContext, options: DataOptions) throws
        -> PreferenceDataset
    {
        var summary = DataSummary(file: records.file)
        summary.recordsRead = records.recordsRead
        summary.skippedInvalid = records.skipped
        summary.maxLength = options.maxLength
        summary.truncation = options.truncation
        var skippedExamples = records.skippedExamples
        var pairs: [TokenizedPair] = []
        pairs.reserveCapacity(records.records.count)
        for record in records.records {
            let outcome: PreferenceTokenization.Outcome
            do {
                outcome = try PreferenceTokenization.tokenize(record, context: context, options: options)
            } catch {
                guard options.skipInvalid else { throw error }
                summary.skippedInvalid[error.kind, default: 0] += 1
                if skippedExamples.count < PreferenceData.skippedExampleLimit { skippedExamples.append(error) }
                continue
            }
            switch outcome {
            case .dropped(let reason):
                summary.dropped[reason, default: 0] += 1
            case .kept(let pair, let warnings):
                pairs.append(pair)
                if record.isConversational { summary.conversational += 1 }
                if record.promptWasImplicit { summary.implicitPrompts += 1 }
                if pair.chosen.wasTruncated { summary.truncatedChosen += 1 }
                if pair.rejected.wasTruncated { summary.truncatedRejected += 1 }
                for w in warnings { summary.warnings[w, default: 0] += 1 }
            }
        }
        summary.pairsKept = pairs.count
        if pairs.isEmpty {
            throw DataError(
                .noPairs, RecordLocation(file: records.file, position: .wholeFile),
                "no usable pairs (\(summary.description))")
        }
        return PreferenceDataset(pairs: pairs, summary: summary, skippedExamples: skippedExamples)
    }
}
