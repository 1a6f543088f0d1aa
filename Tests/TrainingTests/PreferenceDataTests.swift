// Preference-data loading: every record form, TRL's extract_prompt (vs the fixture, incl. mid-word splits), every
// user error as one line naming file, line/index and field, and skipInvalid counting.

import Foundation
import Testing
import Training

// MARK: - Helpers

func parse(_ text: String, file: String = "t.jsonl", skipInvalid: Bool = false) throws -> PreferenceRecords {
    try PreferenceData.parse(Array(text.utf8), file: file, skipInvalid: skipInvalid)
}

/// Parses and returns the thrown DataError (failing the test if nothing is thrown).
func dataError(_ bytes: [UInt8], file: String = "t.jsonl") -> DataError? {
    do {
        _ = try PreferenceData.parse(bytes, file: file)
        Issue.record("expected a DataError")
        return nil
    } catch let e as DataError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

func dataError(_ text: String, file: String = "t.jsonl") -> DataError? { dataError(Array(text.utf8), file: file) }

let valid = #"{"prompt": "P", "chosen": "good", "rejected": "bad"}"#

// MARK: - Forms

@Test func standardRecordsWithBlankLinesAndExtraFields() throws {
    let r = try parse("\n" + valid + "\n\n  \r\n" + #"{"prompt":"Q","chosen":"a","rejected":"b","score":3,"id":"x"}"# + "\n")
    #expect(r.recordsRead == 2)
    #expect(
        r.records.map(\.content) == [
            .text(prompt: "P", chosen: "good", rejected: "bad"), .text(prompt: "Q", chosen: "a", rejected: "b"),
        ])
    #expect(r.records.map(\.location.position) == [.line(2), .line(5)])
    #expect(r.records.allSatisfy { !$0.promptWasImplicit && !$0.isConversational })
}

@Test func jsonArrayFileWithByteOrderMark() throws {
    let text = "\u{FEFF}[ " + valid + ",\n " + valid + " ]"
    let r = try parse(text, file: "d.json")
    #expect(r.records.count == 2)
    #expect(r.records[1].location.description == "d.json: index 1")
}

@Test func implicitPromptMatchesTRLExtractPrompt() throws {
    let fixture = try #require(try Fixture.json("data_trl_tokenization.json") as? [String: Any])
    let cases = try #require(fixture["extract_prompt"] as? [[String: Any]])
    #expect(cases.count >= 8)
    for c in cases {
        let line = String(decoding: try JSONSerialization.data(withJSONObject: ["chosen": c["chosen"]!, "rejected": c["rejected"]!]), as: UTF8.self)
        let expected = try #require(c["expected"] as? [String: String])
        let records = try parse(line)
        let record = try #require(records.records.first)
        #expect(record.promptWasImplicit)
        guard case .text(let p, let ch, let rj) = record.content else {
            Issue.record("not text")
            continue
        }
        // Compare code points: Swift's String == would equate "é" and "e\u{301}".
        #expect(Array(p.unicodeScalars) == Array(expected["prompt"]!.unicodeScalars), "prompt of \(line)")
        #expect(Array(ch.unicodeScalars) == Array(expected["chosen"]!.unicodeScalars), "chosen of \(line)")
        #expect(Array(rj.unicodeScalars) == Array(expected["rejected"]!.unicodeScalars), "rejected of \(line)")
    }
}

@Test func implicitPromptSplitsMidWord() throws {
    let r = try parse(#"{"chosen": "\n\nHuman: Hi\n\nAssistant: I can help.", "rejected": "\n\nHuman: Hi\n\nAssistant: I cannot."}"#)
    #expect(r.records[0].content == .text(prompt: "\n\nHuman: Hi\n\nAssistant: I can", chosen: " help.", rejected: "not."))
}

@Test func conversationalRecordsWithSystemField() throws {
    let r = try parse(
        #"""
        {"system": "Be brief.", "prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello", "name": "x"}], "rejected": [{"role": "assistant", "content": "Go"}]}
        """#)
    let u = ChatMessage(role: "user", content: "Hi")
    #expect(
        r.records[0].content
            == .conversation(
                prompt: [ChatMessage(role: "system", content: "Be brief."), u],
                chosen: [ChatMessage(role: "assistant", content: "Hello")], rejected: [ChatMessage(role: "assistant", content: "Go")]))
    #expect(r.records[0].isConversational && !r.records[0].promptWasImplicit)
}

@Test func implicitConversationalPromptIsTheCommonMessagePrefix() throws {
    let r = try parse(
        #"""
        {"system": "S", "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}, {"role": "user", "content": "More"}, {"role": "assistant", "content": "Yes"}], "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}, {"role": "user", "content": "More"}, {"role": "assistant", "content": "No"}]}
        """#)
    guard case .conversation(let p, let c, let rj) = r.records[0].content else {
        Issue.record("not a conversation")
        return
    }
    #expect(p.map(\.content) == ["S", "Q", "A", "More"])
    #expect(c == [ChatMessage(role: "assistant", content: "Yes")])
    #expect(rj == [ChatMessage(role: "assistant", content: "No")])
    #expect(r.records[0].promptWasImplicit)
}

// MARK: - Errors

/// Each case: input, expected kind, expected description (one line naming file, line and field).
struct ErrorCase: CustomTestStringConvertible, Sendable {
    var name: String
    var body: [UInt8]
    var file = "t.jsonl"
    var kind: DataError.Kind
    var expected: String
    var testDescription: String { name }

    init(_ name: String, _ text: String, file: String = "t.jsonl", _ kind: DataError.Kind, _ expected: String) {
        self.name = name
        self.body = Array(text.utf8)
        self.file = file
        self.kind = kind
        self.expected = expected
    }

    init(_ name: String, bytes: [UInt8], _ kind: DataError.Kind, _ expected: String) {
        self.name = name
        self.body = bytes
        self.kind = kind
        self.expected = expected
    }

    static let all: [ErrorCase] = [
        ErrorCase(
            "malformed JSON", valid + "\n{\"prompt\": \"a\", \"chosen\": }\n", .malformedJSON,
            "t.jsonl: line 2: malformed JSON (column 27: unexpected character '}')"),
        ErrorCase("missing field", valid + "\n\n" + #"{"prompt": "a", "chosen": "b"}"#, .missingField, "t.jsonl: line 3: field 'rejected': missing"),
        ErrorCase("missing chosen", #"{"prompt": "a", "rejected": "b"}"#, .missingField, "t.jsonl: line 1: field 'chosen': missing"),
        ErrorCase(
            "array element not an object", "[1, 2]\n", file: "t.json", .notAnObject,
            "t.json: index 0: each record must be a JSON object, found a number"),
        ErrorCase("line not an object", valid + "\n\"text\"", .notAnObject, "t.jsonl: line 2: each record must be a JSON object, found a string"),
        ErrorCase(
            "chosen a number", #"{"prompt": "a", "chosen": 3, "rejected": "b"}"#, .wrongType,
            "t.jsonl: line 1: field 'chosen': must be a string or a list of messages, found a number"),
        ErrorCase(
            "prompt a list with text completions", #"{"prompt": [], "chosen": "a", "rejected": "b"}"#, .wrongType,
            "t.jsonl: line 1: field 'prompt': must be a string like 'chosen', found a list"),
        ErrorCase(
            "prompt a string with messages",
            #"{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#, .wrongType,
            "t.jsonl: line 1: field 'prompt': must be a list of messages like 'chosen', found a string"),
        ErrorCase(
            "rejected type differs", #"{"chosen": "a", "rejected": null}"#, .wrongType,
            "t.jsonl: line 1: field 'rejected': must be a string like 'chosen', found null"),
        ErrorCase(
            "system on text", #"{"system": "s", "prompt": "p", "chosen": "a", "rejected": "b"}"#, .wrongType, "t.jsonl: line 1: field 'system':"),
        ErrorCase(
            "non-string content",
            #"{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": 5}], "rejected": [{"role": "assistant", "content": "b"}]}"#,
            .nonStringContent, "t.jsonl: line 1: field 'chosen[0].content': must be a string, found a number"),
        ErrorCase(
            "multimodal content list",
            #"{"prompt": [{"role": "user", "content": [{"type": "text", "text": "q"}]}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#,
            .nonStringContent, "t.jsonl: line 1: field 'prompt[0].content': must be a string, found a list"),
        ErrorCase(
            "message not an object", #"{"chosen": ["hi"], "rejected": [{"role": "assistant", "content": "b"}]}"#, .badMessage,
            "t.jsonl: line 1: field 'chosen[0]': a message must be an object"),
        ErrorCase(
            "message without role", #"{"chosen": [{"content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#, .badMessage,
            "t.jsonl: line 1: field 'chosen[0].role': missing"),
        ErrorCase(
            "message without content", #"{"chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant"}]}"#, .badMessage,
            "t.jsonl: line 1: field 'rejected[0].content': missing"),
        ErrorCase("empty chosen", #"{"prompt": "p", "chosen": "", "rejected": "b"}"#, .emptyCompletion, "t.jsonl: line 1: field 'chosen': is empty"),
        ErrorCase(
            "empty rejected list", #"{"prompt": [], "chosen": [{"role": "assistant", "content": "a"}], "rejected": []}"#, .emptyCompletion,
            "t.jsonl: line 1: field 'rejected': is empty"),
        ErrorCase(
            "chosen == rejected", #"{"prompt": "p", "chosen": "same", "rejected": "same"}"#, .identicalCompletions,
            "t.jsonl: line 1: field 'rejected': is identical to 'chosen'"),
        ErrorCase(
            "identical after extraction", #"{"chosen": "x ", "rejected": "y "}"#, .identicalCompletions,
            "t.jsonl: line 1: field 'rejected': is identical to 'chosen' once the implicit prompt is removed"),
        ErrorCase(
            "invalid UTF-8", bytes: Array((valid + "\n" + valid + "\n").utf8) + [0x7B, 0xFF, 0xFE, 0x7D, 0x0A], .invalidUTF8,
            "t.jsonl: line 3: the line is not valid UTF-8"),
        ErrorCase("empty file", "", .emptyFile, "t.jsonl: the file holds no records"),
        ErrorCase("blank file", "\n \n\t\n", .emptyFile, "t.jsonl: the file holds no records"),
        ErrorCase("empty array", "[]", file: "t.json", .emptyFile, "t.json: the file holds no records"),
        ErrorCase(
            "array element missing field", "[" + valid + ", {\"prompt\": \"a\", \"rejected\": \"b\"}]", file: "t.json", .missingField,
            "t.json: index 1: field 'chosen': missing"),
        ErrorCase(
            "malformed array", "[" + valid + ",\n\n {]", file: "t.json", .malformedJSON,
            "t.json: line 3: malformed JSON array (column 3: expected a string key)"),
        ErrorCase(
            "system after a system prompt",
            #"{"system": "s", "prompt": [{"role": "system", "content": "t"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#,
            .wrongType, "t.jsonl: line 1: field 'system': the prompt already starts with a system message"),
    ]
}

@Test(arguments: ErrorCase.all)
func invalidDataGivesOneLineNamingFileLineAndField(_ c: ErrorCase) {
    guard let e = dataError(c.body, file: c.file) else { return }
    #expect(e.kind == c.kind, "\(e)")
    #expect(e.description.hasPrefix(c.expected), "got: \(e)")
    #expect(!e.description.contains("\n"), "not one line: \(e)")
}

@Test func invalidUTF8InJSONArrayIsReportedAtItsLine() {
    let bytes = Array("[\n".utf8) + Array((valid + ",\n").utf8) + [0x22, 0xC3, 0x28, 0x22] + Array("\n]".utf8)
    guard let e = dataError(bytes, file: "a.json") else { return }
    #expect(e.kind == .invalidUTF8)
    #expect(e.description == "a.json: line 3: the line is not valid UTF-8")
}

@Test func unreadableFile() {
    #expect(throws: DataError.self) { try PreferenceData.load(path: "/nonexistent/dir/x.jsonl") }
}

// MARK: - skipInvalid

@Test func skipInvalidCountsEachKind() throws {
    let lines = [
        valid,
        "{not json",
        #"{"prompt": "p", "chosen": "a"}"#,
        #"{"prompt": "p", "chosen": "same", "rejected": "same"}"#,
        #"{"prompt": "p", "chosen": "same2", "rejected": "same2"}"#,
        "",
        #"{"prompt": "p", "chosen": "", "rejected": "b"}"#,
        valid,
    ]
    var bytes = Array(lines.joined(separator: "\n").utf8)
    bytes += [0x0A, 0xFF, 0x0A]  // line 9: invalid UTF-8
    #expect(throws: DataError.self) { try PreferenceData.parse(bytes, file: "s.jsonl") }
    let r = try PreferenceData.parse(bytes, file: "s.jsonl", skipInvalid: true)
    #expect(r.recordsRead == 8)
    #expect(r.records.count == 2)
    #expect(r.skipped == [.malformedJSON: 1, .missingField: 1, .identicalCompletions: 2, .emptyCompletion: 1, .invalidUTF8: 1])
    #expect(r.skippedExamples.first?.description.hasPrefix("s.jsonl: line 2: malformed JSON") == true)
    #expect(r.skippedExamples.count == PreferenceData.skippedExampleLimit)

    let path = try temporaryFile(bytes, name: "s.jsonl")
    let dataset = try PreferenceDataset.load(path: path, context: Toy.context, options: DataOptions(skipInvalid: true))
    #expect(dataset.pairs.count == 2)
    #expect(dataset.summary.skippedInvalid.values.reduce(0, +) == 6)
    #expect(
        dataset.summary.description.contains(
            "Skipped 6 invalid (invalid UTF-8: 1, malformed JSON: 1, missing field: 1, empty chosen/rejected: 1, chosen == rejected: 2)"))
}

@Test func skipInvalidStillFailsWhenNothingIsLeft() throws {
    let path = try temporaryFile("{bad\n{\"chosen\": 1, \"rejected\": 2}\n")
    do {
        _ = try PreferenceDataset.load(path: path, context: Toy.context, options: DataOptions(skipInvalid: true))
        Issue.record("expected noPairs")
    } catch let e as DataError {
        #expect(e.kind == .noPairs)
        #expect(e.description.hasPrefix(path + ": no usable pairs"))
    }
}

// MARK: - Other formats and tool calls

/// Parquet, Arrow and CSV files, and Hub dataset ids, get one line with the `datasets` conversion.
@Test func otherFormatsGetTheConversionLine() throws {
    let parquet = dataError(Array("PAR1".utf8) + [0, 1, 2, 3] + Array("PAR1".utf8), file: "train.parquet")
    #expect(parquet?.kind == .unsupportedFormat)
    #expect(parquet?.description.contains("this is a Parquet file") == true)
    #expect(parquet?.description.contains("load_dataset('parquet', data_files='train.parquet')['train'].to_json('pairs.jsonl')") == true)
    #expect(dataError(Array("ARROW1".utf8) + [0, 0], file: "d.arrow")?.kind == .unsupportedFormat)
    let csv = dataError("prompt,chosen,rejected\nP,good,bad\n", file: "pairs.csv")
    #expect(csv?.kind == .unsupportedFormat && csv?.description.contains("a CSV file") == true)
    do {
        _ = try PreferenceData.load(path: "trl-lib/ultrafeedback_binarized")
        Issue.record("expected an error")
    } catch let e as DataError {
        #expect(e.kind == .unsupportedFormat)
        #expect(e.description.contains("Hub dataset ids are not fetched"), "\(e)")
    }
}

/// Tool calls and tool schemas are refused until they are supported, never dropped silently.
@Test func toolCallsAreRefused() {
    let withCalls =
        #"{"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function"}]}], "rejected": [{"role": "assistant", "content": "no"}]}"#
    let e = dataError(withCalls)
    #expect(e?.kind == .toolCalls)
    #expect(e?.description == "t.jsonl: line 1: field 'chosen[0].tool_calls': messages with tool calls are not supported yet")
    let withTools = #"{"prompt": "P", "chosen": "a", "rejected": "b", "tools": [{"type": "function"}]}"#
    #expect(dataError(withTools)?.kind == .toolCalls)
    #expect(throws: Never.self) { try parse(#"{"prompt": "P", "chosen": "a", "rejected": "b", "tools": null}"#) }
}
