// Preference data: reads JSONL or JSON-array files of preference pairs into validated records (formats/data.md).
// Tokenization is separate (PreferenceTokenization.swift); this file knows only JSON and the record forms.

import Foundation
import TensorFile
import JSON
import ModelFiles

// MARK: - Records

/// One chat message. Equality compares code points exactly, as Python compares strings (Swift's `==` on
/// `String` would treat canonically equivalent texts as equal).
public struct ChatMessage: Sendable, Hashable, CustomStringConvertible {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func == (a: ChatMessage, b: ChatMessage) -> Bool {
        a.role.utf8.elementsEqual(b.role.utf8) && a.content.utf8.elementsEqual(b.content.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(Array(role.utf8))
        hasher.combine(Array(content.utf8))
    }

    public var description: String { "\(role): \(content)" }
}

/// A validated preference pair, with its prompt made explicit.
public struct PreferenceRecord: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        /// Plain text; EOS is appended to the completions at tokenization.
        case text(prompt: String, chosen: String, rejected: String)
        /// Messages rendered with the chat template: the prompt with the generation prompt, prompt+completion without.
        case conversation(prompt: [ChatMessage], chosen: [ChatMessage], rejected: [ChatMessage])
    }

    public var content: Content
    /// True when the record had no `prompt` field and the prompt was extracted (TRL's `extract_prompt`).
    public var promptWasImplicit: Bool
    public var location: RecordLocation

    public init(content: Content, promptWasImplicit: Bool, location: RecordLocation) {
        self.content = content
        self.promptWasImplicit = promptWasImplicit
        self.location = location
    }

    public var isConversational: Bool {
        if case .conversation = content { return true }
        return false
    }
}

/// The records of one file, and what was skipped (only with `skipInvalid`): paired or unpaired records.
public struct RecordFile<Record: Sendable>: Sendable {
    public var file: String
    public var records: [Record]
    /// Non-blank JSONL lines, or JSON-array elements, seen.
    public var recordsRead: Int
    public var skipped: [DataError.Kind: Int]
    /// The first few skipped records' errors, to show the user what was wrong.
    public var skippedExamples: [DataError]
}

public typealias PreferenceRecords = RecordFile<PreferenceRecord>

// MARK: - Loading

public enum PreferenceData {
    /// How many skipped-record errors are kept as examples.
    public static let skippedExampleLimit = 5

    /// Reads a JSONL file (one object per line, blank lines skipped) or a JSON-array file (first non-blank byte `[`).
    /// Throws `DataError`. With `skipInvalid`, records that fail validation are counted per kind and left out;
    /// file-level problems (unreadable, empty, a malformed or non-UTF-8 JSON array) always throw.
    public static func load(path: String, skipInvalid: Bool = false) throws -> PreferenceRecords {
        try parse(readFile(path), file: path, skipInvalid: skipInvalid)
    }

    /// A data file's bytes, shared by every record form: a Hub dataset id, a directory, a FIFO or an
    /// unreadable file get the same one-line error.
    static func readFile(_ path: String) throws -> [UInt8] {
        try DataFormat.refuseHubDatasetID(path)
        do {
            return try RegularFile.read(path)
        } catch {
            throw DataError(.unreadable, RecordLocation(file: path, position: .wholeFile), error.reason)
        }
    }

    /// Parses file contents; `file` is only used in messages.
    public static func parse(_ bytes: [UInt8], file: String, skipInvalid: Bool = false) throws -> PreferenceRecords {
        try parseRecords(bytes, file: file, skipInvalid: skipInvalid) { v, l throws(DataError) in try record(v, at: l) }
    }

    /// The file walk shared by every record form (paired here, unpaired in UnpairedData.swift): JSONL or a JSON
    /// array, the same errors and line numbers, and `skipInvalid` counting; `record` validates one decoded value.
    static func parseRecords<R: Sendable>(
        _ bytes: [UInt8], file: String, skipInvalid: Bool,
        record: (JSONValue, RecordLocation) throws(DataError) -> R
    ) throws -> RecordFile<R> {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }  // UTF-8 byte-order mark
        try DataFormat.refuseOtherFormats(body, file: file)
        var records: [R] = []
        var recordsRead = 0
        var skipped: [DataError.Kind: Int] = [:]
        var skippedExamples: [DataError] = []

        func handle(_ result: () throws(DataError) -> R) throws {
            do {
                records.append(try result())
            } catch {
                guard skipInvalid, error.kind.isPerRecord else { throw error }
                skipped[error.kind, default: 0] += 1
                if skippedExamples.count < skippedExampleLimit { skippedExamples.append(error) }
            }
        }

        if body.first(where: { !isBlank($0) }) == UInt8(ascii: "[") {
            let elements = try parseArray(body, file: file)
            for (i, element) in elements.enumerated() {
                recordsRead += 1
                try handle { () throws(DataError) in
                    try record(element, RecordLocation(file: file, position: .index(i)))
                }
            }
        } else {
            var lineNumber = 0
            for line in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.allSatisfy(isBlank) { continue }
                recordsRead += 1
                let location = RecordLocation(file: file, position: .line(lineNumber))
                try handle { () throws(DataError) in
                    guard String(validating: line, as: UTF8.self) != nil else {
                        throw DataError(.invalidUTF8, location, "the line is not valid UTF-8")
                    }
                    let value: JSONValue
                    do throws(JSONParseFailure) { value = try JSONValue.parseRecord(line) } catch {
                        throw DataError(.malformedJSON, location, "malformed JSON (column \(error.column): \(error.reason))")
                    }
                    return try record(value, location)
                }
            }
        }
        if recordsRead == 0 {
            throw DataError(.emptyFile, RecordLocation(file: file, position: .wholeFile), "the file holds no records")
        }
        return RecordFile(file: file, records: records, recordsRead: recordsRead, skipped: skipped, skippedExamples: skippedExamples)
    }

    private static func isBlank(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") || b == UInt8(ascii: "\n")
    }

    /// A whole JSON-array file: invalid UTF-8 is reported at its line, a parse failure at the file.
    private static func parseArray(_ body: ArraySlice<UInt8>, file: String) throws(DataError) -> [JSONValue] {
        if String(validating: body, as: UTF8.self) == nil {
            var lineNumber = 0
            for line in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                if String(validating: line, as: UTF8.self) == nil { break }
            }
            throw DataError(
                .invalidUTF8, RecordLocation(file: file, position: .line(lineNumber)), "the line is not valid UTF-8")
        }
        let value: JSONValue
        do throws(JSONParseFailure) { value = try JSONValue.parseRecord(body) } catch {
            throw DataError(
                .malformedJSON, RecordLocation(file: file, position: .line(error.line)),
                "malformed JSON array (column \(error.column): \(error.reason))")
        }
        guard case .array(let elements) = value else {
            throw DataError(
                .malformedJSON, RecordLocation(file: file, position: .wholeFile), "expected a JSON array of records")
        }
        return elements
    }

    // MARK: - One record

    /// Validates one decoded record and makes its prompt explicit.
    static func record(_ value: JSONValue, at location: RecordLocation) throws(DataError) -> PreferenceRecord {
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
        let chosenValue = try required("chosen")
        let rejectedValue = try required("rejected")
        let promptValue = object["prompt"]
        let systemValue = object["system"]

        switch chosenValue {
        case .string(let chosen):
            guard case .string(let rejected) = rejectedValue else {
                throw DataError(
                    .wrongType, location, field: "rejected",
                    "must be a string like 'chosen', found \(rejectedValue.typeName)")
            }
            if let systemValue {
                throw DataError(
                    .wrongType, location, field: "system",
                    "only conversational records (lists of messages) take a system prompt, found \(systemValue.typeName) with text completions")
            }
            try checkNonEmpty(chosen.isEmpty, rejected.isEmpty, location)
            try checkDistinct(chosen.unicodeScalars.elementsEqual(rejected.unicodeScalars), location)
            if let promptValue {
                guard case .string(let prompt) = promptValue else {
                    throw DataError(
                        .wrongType, location, field: "prompt",
                        "must be a string like 'chosen', found \(promptValue.typeName)")
                }
                return PreferenceRecord(
                    content: .text(prompt: prompt, chosen: chosen, rejected: rejected), promptWasImplicit: false,
                    location: location)
            }
            let parts = PromptExtraction.split(chosen: chosen, rejected: rejected)
            try checkDistinct(
                parts.chosen.unicodeScalars.elementsEqual(parts.rejected.unicodeScalars), location,
                afterExtraction: true)
            return PreferenceRecord(
                content: .text(prompt: parts.prompt, chosen: parts.chosen, rejected: parts.rejected),
                promptWasImplicit: true, location: location)

        case .array(let chosenList):
            guard case .array(let rejectedList) = rejectedValue else {
                throw DataError(
                    .wrongType, location, field: "rejected",
                    "must be a list of messages like 'chosen', found \(rejectedValue.typeName)")
            }
            let chosen = try messages(chosenList, field: "chosen", location)
            let rejected = try messages(rejectedList, field: "rejected", location)
            try checkNonEmpty(chosen.isEmpty, rejected.isEmpty, location)
            try checkDistinct(chosen == rejected, location)
            var system: [ChatMessage] = []
            if let systemValue {
                guard case .string(let text) = systemValue else {
                    throw DataError(.wrongType, location, field: "system", "must be a string, found \(systemValue.typeName)")
                }
                system = [ChatMessage(role: "system", content: text)]
            }
            var prompt: [ChatMessage]
            var parts = (chosen: chosen, rejected: rejected)
            let implicit = promptValue == nil
            if let promptValue {
                guard case .array(let promptList) = promptValue else {
                    throw DataError(
                        .wrongType, location, field: "prompt",
                        "must be a list of messages like 'chosen', found \(promptValue.typeName)")
                }
                prompt = try messages(promptList, field: "prompt", location)
            } else {
                let split = PromptExtraction.split(chosen: chosen, rejected: rejected)
                prompt = split.prompt
                parts = (split.chosen, split.rejected)
                try checkDistinct(parts.chosen == parts.rejected, location, afterExtraction: true)
            }
            if !system.isEmpty, prompt.first?.role == "system" {
                throw DataError(
                    .wrongType, location, field: "system", "the prompt already starts with a system message")
            }
            return PreferenceRecord(
                content: .conversation(prompt: system + prompt, chosen: parts.chosen, rejected: parts.rejected),
                promptWasImplicit: implicit, location: location)

        default:
            throw DataError(
                .wrongType, location, field: "chosen",
                "must be a string or a list of messages, found \(chosenValue.typeName)")
        }
    }

    private static func checkNonEmpty(_ chosenEmpty: Bool, _ rejectedEmpty: Bool, _ location: RecordLocation)
        throws(DataError)
    {
        if chosenEmpty { throw DataError(.emptyCompletion, location, field: "chosen", "is empty") }
        if rejectedEmpty { throw DataError(.emptyCompletion, location, field: "rejected", "is empty") }
    }

    private static func checkDistinct(_ identical: Bool, _ location: RecordLocation, afterExtraction: Bool = false)
        throws(DataError)
    {
        guard identical else { return }
        throw DataError(
            .identicalCompletions, location, field: "rejected",
            afterExtraction
                ? "is identical to 'chosen' once the implicit prompt is removed" : "is identical to 'chosen'")
    }

    /// A list of `{role, content}` objects with string values; extra keys are ignored.
    static func messages(_ list: [JSONValue], field: String, _ location: RecordLocation) throws(DataError)
        -> [ChatMessage]
    {
        var out: [ChatMessage] = []
        out.reserveCapacity(list.count)
        for (i, element) in list.enumerated() {
            let name = "\(field)[\(i)]"
            guard case .object(let message) = element else {
                throw DataError(
                    .badMessage, location, field: name,
                    "a message must be an object with string 'role' and 'content', found \(element.typeName)")
            }
            if let calls = message["tool_calls"], !calls.isNull {
                throw DataError(.toolCalls, location, field: name + ".tool_calls", "messages with tool calls are not supported yet")
            }
            guard let roleValue = message["role"] else {
                throw DataError(.badMessage, location, field: name + ".role", "missing")
            }
            guard case .string(let role) = roleValue else {
                throw DataError(.badMessage, location, field: name + ".role", "must be a string, found \(roleValue.typeName)")
            }
            guard let contentValue = message["content"] else {
                throw DataError(.badMessage, location, field: name + ".content", "missing")
            }
            guard case .string(let content) = contentValue else {
                throw DataError(
                    .nonStringContent, location, field: name + ".content",
                    "must be a string, found \(contentValue.typeName)")
            }
            out.append(ChatMessage(role: role, content: content))
        }
        return out
    }
}
