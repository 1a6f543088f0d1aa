// formats/data.md stays true: every ```jsonl block in it loads and tokenizes, and the JSON-array example too.

import Foundation
import Testing
import TestSupport
import Training

func docBlocks(_ fence: String) throws -> [String] {
    let text = try String(contentsOfFile: TestPaths.repositoryRoot + "/formats/data.md", encoding: .utf8)
    var blocks: [String] = []
    var current: [Substring]?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if current == nil, line == "```" + fence {
            current = []
        } else if current != nil, line == "```" {
            blocks.append(current!.joined(separator: "\n"))
            current = nil
        } else {
            current?.append(line)
        }
    }
    return blocks
}

@Test func dataDocExamplesLoad() throws {
    let jsonl = try docBlocks("jsonl")
    #expect(jsonl.count >= 4)
    for block in jsonl {
        let records = try PreferenceData.parse(Array(block.utf8), file: "doc.jsonl")
        let dataset = try PreferenceDataset.make(records, context: Toy.context, options: DataOptions())
        #expect(dataset.pairs.count == block.split(separator: "\n").count)
    }
    let arrays = try docBlocks("json")
    #expect(arrays.count == 1)
    let records = try PreferenceData.parse(Array(arrays[0].utf8), file: "doc.json")
    #expect(records.records.count == 2)
    #expect(records.records[1].promptWasImplicit)
}

@Test func unpairedDataDocExamplesLoad() throws {
    let blocks = try docBlocks("jsonl-unpaired")
    #expect(blocks.count == 1)
    for block in blocks {
        let records = try UnpairedData.parse(Array(block.utf8), file: "doc.jsonl")
        let dataset = try UnpairedDataset.make(records, context: Toy.context, options: DataOptions())
        #expect(dataset.examples.count == block.split(separator: "\n").count)
    }
}
