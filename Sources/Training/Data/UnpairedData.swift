// Unpaired preference data for KTO (TRL's `{"prompt", "completion", "label"}`), read by the same file walk as
// paired data; paired records are unpaired as TRL's `unpair_preference_dataset` does. Tokenization, the drop rule
// and the KL completions follow TRL 1.16's KTOTrainer._prepare_dataset and DataCollatorForUnpairedPreference.

import Foundation
import JSON

// MARK: - Records

/// One labelled completion: desirable (`label: true`) or undesirable.
public struct UnpairedRecord: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        /// Plain text; EOS is appended to the completion at tokenization.
        case text(prompt: String, completion: String)
        /// Messages rendered with the chat template.
        case conversation(prompt: [ChatMessage], completion: [ChatMessage])
    }

    public var content: Content
    public var label: Bool
    public var promptWasImplicit: Bool
    /// True when the record is one half of a paired record (chosen → true, rejected → false).
    public var fromPair: Bool
    public var location: RecordLocation

    public var isConversational: Bool {
        if case .conversation = content { return true }
        return false
    }
}

public typealias UnpairedRecords = RecordFile<UnpairedRecord>

public enum UnpairedData {
    /// `datasets.map(batched=True)`'s default batch: TRL unpairs 1,000 rows at a time, all their chosen
    /// completions first, then all their rejected ones.
    public static let unpairChunk = 1000

    /// Reads a JSONL or JSON-array file of unpaired records, or of paired records (then unpaired). A file must
    /// hold one form; errors and `skipInvalid` are those of `PreferenceData.load`.
    public static func load(path: String, skipInvalid: Bool = false) throws -> UnpairedRecords {
        try parse(PreferenceData.readFile(path), file: path, skipInvalid: skipInvalid)
    }

    private enum Either {
        case unpaired(UnpairedRecord)
        case paired(PreferenceRecord)
    }

    public static func parse(_ bytes: [UInt8], file: String, skipInvalid: Bool = false) throws -> UnpairedRecords {
        var form: Bool?  // true: unpaired, decided by the first valid record (TRL looks at the first example)
        let r = try PreferenceData.parseRecords(bytes, file: file, skipInvalid: skipInvalid) { v, l throws(DataError) -> Either in
            let isUnpaired: Bool
            if case .object(let o) = v { isUnpaired = o["completion"] != nil || o["label"] != nil } else { isUnpaired = false }
            if let form, form != isUnpaired {
                throw DataError(
                    .wrongType, l, field: isUnpaired ? "completion" : "chosen",
                    isUnpaired
                        ? "an unpaired record in a file of paired records; use one form per file"
                        : "a paired record in a file of unpaired records (prompt, completion, label); use one form per file")
            }
            let e: Either = isUnpaired ? .unpaired(try record(v, at: l)) : .paired(try PreferenceData.record(v, at: l))
            form = isUnpaired
            return e
        }
        var out: [UnpairedRecord] = []
        var pending: [PreferenceRecord] = []
        func flush() {
            for p in pending { out.append(unpair(p, chosen: true)) }
            for p in pending { out.append(unpair(p, chosen: false)) }
            pending = []
        }
        for e in r.records {
            switch e {
            case .unpaired(let u): out.append(u)
            case .paired(let p):
                pending.append(p)
                if pending.count == unpairChunk { flush() }
            }
        }
        flush()
        return UnpairedRecords(
            file: file, records: out, recordsRead: r.recordsRead, skipped: r.skipped, skippedExamples: r.skippedExamples)
    }

    /// TRL's `_unpair_row`: the prompt with one completion, labelled by which it was.
    static func unpair(_ p: PreferenceRecord, chosen: Bool) -> UnpairedRecord {
        let content: UnpairedRecord.Content
        switch p.content {
        case .text(let prompt, let c, let r): content = .text(prompt: prompt, completion: chosen ? c : r)
        case .conversation(let prompt, let c, let r): content = .conversation(prompt: prompt, completion: chosen ? c : r)
        }
        return UnpairedRecord(
            content: content, label: chosen, promptWasImplicit: p.promptWasImplicit, fromPair: true, location: p.location)
    }

    /// Validates one `{"prompt", "completion", "label"}` record (and an optional `system` for conversations).
    static func record(_ value: JSONValue, at location: RecordLocation) throws(DataError) -> UnpairedRecord {
        guard case .object(let object) = value else {
            throw DataError(.notAnObject, location, "each record must be a JSON object, found \(value.typeName)")
        }
        func required(_ name: String) throws(DataError) -> JSONValue {
            guard let v = object[name] else { throw DataError(.missingField, location, field: name, "missing") }
            return v
        }
        if let tools = object["tools"], !tools.isNull {
            throw DataError(
                .toolCalls, location, field: "tools",
                "records with tools are not supported yet (they would be dropped silently by a plain chat template)")
        }
        let promptValue = try required("prompt")
        let completionValue = try required("completion")
        let labelValue = try required("label")
        guard case .bool(let label) = labelValue else {
            throw DataError(.wrongType, location, field: "label", "must be true or false, found \(labelValue.typeName)")
        }
        switch completionValue {
        case .string(let completion):
            guard case .string(let prompt) = promptValue else {
                throw DataError(
                    .wrongType, location, field: "prompt", "must be a string like 'completion', found \(promptValue.typeName)")
            }
            if let s = object["system"] {
                throw DataError(
                    .wrongType, location, field: "system",
                    "only conversational records (lists of messages) take a system prompt, found \(s.typeName) with a text completion")
            }
            if completion.isEmpty { throw DataError(.emptyCompletion, location, field: "completion", "is empty") }
            return UnpairedRecord(
                content: .text(prompt: prompt, completion: completion), label: label, promptWasImplicit: false, fromPair: false,
                location: location)
        case .array(let completionList):
            guard case .array(let promptList) = promptValue else {
                throw DataError(
                    .wrongType, location, field: "prompt",
                    "must be a list of messages like 'completion', found \(promptValue.typeName)")
            }
            let completion = try PreferenceData.messages(completionList, field: "completion", location)
            var prompt = try PreferenceData.messages(promptList, field: "prompt", location)
            if completion.isEmpty { throw DataError(.emptyCompletion, location, field: "completion", "is empty") }
            if let systemValue = object["system"] {
                guard case .string(let text) = systemValue else {
                    throw DataError(.wrongType, location, field: "system", "must be a string, found \(systemValue.typeName)")
                }
                if prompt.first?.role == "system" {
                    throw DataError(.wrongType, location, field: "system", "the prompt already starts with a system message")
                }
                prompt.insert(ChatMessage(role: "system", content: text), at: 0)
            }
            return UnpairedRecord(
                content: .conversation(prompt: prompt, completion: completion), label: label, promptWasImplicit: false,
                fromPair: false, location: location)
        default:
            throw DataError(
                .wrongType, location, field: "completion", "must be a string or a list of messages, found \(completionValue.typeName)")
        }
    }
}

// MARK: - Tokenization

/// One tokenized example: TRL's `prompt_ids` and `completion_ids` (before truncation) and its label.
public struct TokenizedExample: Sendable, Equatable {
    public var promptIds: [Int]
    public var completionIds: [Int]
    public var label: Bool
    public var location: RecordLocation
}

public enum UnpairedTokenization {
    public enum Outcome: Sendable, Equatable {
        case kept(TokenizedExample, warnings: [DataWarning])
        case dropped(DropReason)
    }

    /// kto tokenize_fn: the completion starts where prompt and prompt+completion diverge.
    public static func tokenize(_ record: UnpairedRecord, context: TokenizationContext, options: DataOptions) throws(DataError)
        -> Outcome
    {
        let location = record.location
        var promptIds: [Int]
        let fullIds: [Int]
        switch record.content {
        case .text(let prompt, let completion):
            // kto add_eos: `if not example["completion"].endswith(eos_token)` (code points, like Python)
            var c = completion
            if let eos = context.eosToken, !eos.isEmpty, !c.unicodeScalars.reversed().starts(with: eos.unicodeScalars.reversed()) {
                c += eos
            }
            promptIds = try PreferenceTokenization.encode(prompt, special: true, field: "prompt", context, location)
            fullIds = try PreferenceTokenization.encode(prompt + c, special: true, field: "completion", context, location)
        case .conversation(let prompt, let completion):
            guard let render = context.renderChat else {
                throw DataError(.chatTemplate, location, "conversational records need a chat template, and the model has none")
            }
            func rendered(_ m: [ChatMessage], _ generationPrompt: Bool, _ field: String) throws(DataError) -> String {
                do { return try render(m, generationPrompt) } catch {
                    throw DataError(.chatTemplate, location, field: field, "chat template failed: \(error)")
                }
            }
            promptIds = try PreferenceTokenization.encode(rendered(prompt, true, "prompt"), special: false, field: "prompt", context, location)
            fullIds = try PreferenceTokenization.encode(
                rendered(prompt + completion, false, "completion"), special: false, field: "completion", context, location)
        }
        var warnings: [DataWarning] = []
        let n = PreferenceTokenization.commonPrefixLength(promptIds, fullIds)
        if n < promptIds.count { warnings.append(.promptNotPrefix) }
        promptIds.removeLast(promptIds.count - n)
        let completionIds = Array(fullIds[n...])
        // kto: `len(prompt_ids) < max_length` is kept (KTO truncates keep_start only).
        if let maxLength = options.maxLength, promptIds.count >= maxLength { return .dropped(.promptTooLong) }
        // TRL would score an empty completion as 0; it carries no signal, so it is dropped as for pairs.
        if completionIds.isEmpty { return .dropped(.emptyCompletion) }
        if let bos = context.bosTokenId, fullIds.starts(with: [bos, bos]) { warnings.append(.doubleBOS) }
        return .kept(
            TokenizedExample(promptIds: promptIds, completionIds: completionIds, label: record.label, location: location), warnings: warnings)
    }
}

// MARK: - Dataset

/// A tokenized unpaired file, in TRL's order (paired files unpaired chunk by chunk).
public struct UnpairedDataset: Sendable {
    public var examples: [TokenizedExample]
    public var summary: DataSummary
    public var skippedExamples: [DataError]

    public static func load(path: String, context: TokenizationContext, options: DataOptions = DataOptions()) throws -> UnpairedDataset {
        try make(UnpairedData.load(path: path, skipInvalid: options.skipInvalid), context: context, options: options)
    }

    public static func make(_ records: UnpairedRecords, context: TokenizationContext, options: DataOptions) throws -> UnpairedDataset {
        var summary = DataSummary(file: records.file)
        summary.unpaired = true
        summary.recordsRead = records.recordsRead
        summary.skippedInvalid = records.skipped
        summary.maxLength = options.maxLength
        summary.truncation = options.truncation
        var skipped = records.skippedExamples
        var examples: [TokenizedExample] = []
        for record in records.records {
            let outcome: UnpairedTokenization.Outcome
            do { outcome = try UnpairedTokenization.tokenize(record, context: context, options: options) } catch {
                guard options.skipInvalid else { throw error }
                summary.skippedInvalid[error.kind, default: 0] += 1
                if skipped.count < PreferenceData.skippedExampleLimit { skipped.append(error) }
                continue
            }
            switch outcome {
            case .dropped(let reason): summary.dropped[reason, default: 0] += 1
            case .kept(let e, let warnings):
                examples.append(e)
                if record.isConversational { summary.conversational += 1 }
                if record.promptWasImplicit { summary.implicitPrompts += 1 }
                if record.fromPair { summary.unpairedFromPairs += 1 }
                if e.label { summary.desirable += 1 }
                if let m = options.maxLength, e.promptIds.count + e.completionIds.count > m { summary.truncatedChosen += 1 }
                for w in warnings { summary.warnings[w, default: 0] += 1 }
            }
        }
        summary.pairsKept = examples.count
        if examples.isEmpty {
            throw DataError(.noPairs, RecordLocation(file: records.file, position: .wholeFile), "no usable examples (\(summary.description))")
        }
        return UnpairedDataset(examples: examples, summary: summary, skippedExamples: skipped)
    }

    /// The examples as KTO scores them, each a `TokenizedPair` so the paired machinery (packing with a shared
    /// prompt, the reference pass and its cache) applies unchanged: `chosen` is prompt+completion, `rejected`
    /// the KL sequence, prompt i + the completion before it in its chunk of `batchSize` (TRL's
    /// `add_kl_completion_ids`: `[c[-1]] + c[:-1]`, chunks of `per_device_train_batch_size` in dataset order).
    /// Without the KL term (`withKL` false) `rejected` is the example itself: packed as a continuation of
    /// `chosen` over their common prefix it costs one token, and its log-prob is never used.
    /// Both sequences are cut to `maxLength` from the end, as DataCollatorForUnpairedPreference does.
    public func scoringPairs(batchSize: Int, withKL: Bool, options: DataOptions) -> (pairs: [TokenizedPair], labels: [Bool]) {
        precondition(batchSize >= 1)
        var pairs: [TokenizedPair] = []
        pairs.reserveCapacity(examples.count)
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let chunk = Array(examples[start..<min(examples.count, start + batchSize)])
            for (k, e) in chunk.enumerated() {
                let kl = withKL ? chunk[(k + chunk.count - 1) % chunk.count].completionIds : e.completionIds
                let keepStart = DataOptions(maxLength: options.maxLength, truncation: .keepStart, skipInvalid: options.skipInvalid)
                pairs.append(
                    TokenizedPair(
                        promptIds: e.promptIds, chosenIds: e.completionIds, rejectedIds: kl,
                        chosen: PreferenceTokenization.sequence(prompt: e.promptIds, completion: e.completionIds, options: keepStart),
                        rejected: PreferenceTokenization.sequence(prompt: e.promptIds, completion: kl, options: keepStart),
                        location: e.location))
            }
        }
        return (pairs, examples.map(\.label))
    }

    /// `scoringPairs` as the dataset the trainer and `leandpo eval` take.
    public func scoringDataset(batchSize: Int, withKL: Bool, options: DataOptions) -> PreferenceDataset {
        let s = scoringPairs(batchSize: batchSize, withKL: withKL, options: options)
        return PreferenceDataset(pairs: s.pairs, summary: summary, skippedExamples: skippedExamples, labels: s.labels)
    }

    /// The examples at `indices` (an eval split), with the summary's counts updated.
    public func subset(_ indices: [Int]) -> UnpairedDataset {
        var d = self
        d.examples = indices.map { examples[$0] }
        d.summary.pairsKept = d.examples.count
        d.summary.desirable = d.examples.filter(\.label).count
        return d
    }
}
