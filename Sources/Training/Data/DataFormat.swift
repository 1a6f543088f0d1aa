// Files that are not preference JSONL/JSON — a Parquet or Arrow file, a CSV, a Hub dataset id — get one
// line saying what is accepted and the `datasets` one-liner that converts them, not "malformed JSON".

import Foundation

enum DataFormat {
    /// What LeanDPO reads, and how to get there from what a Hugging Face user has.
    static func conversionHint(_ load: String) -> String {
        "LeanDPO reads JSONL or a JSON array of records (formats/data.md); convert with: "
            + "python -c \"import datasets; datasets.load_dataset(\(load))['train'].to_json('pairs.jsonl')\""
    }

    /// A path that does not exist but reads like `owner/name` is taken for a Hub dataset id.
    static func refuseHubDatasetID(_ path: String) throws(DataError) {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let looksLikeID =
            parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) } }
            && !path.hasSuffix(".jsonl") && !path.hasSuffix(".json")
        guard looksLikeID else { return }
        throw DataError(
            .unsupportedFormat, RecordLocation(file: path, position: .wholeFile),
            "no such file; Hub dataset ids are not fetched. " + conversionHint("'\(path)'"))
    }

    /// Parquet, Arrow/Feather and CSV/TSV contents, recognized by their magic bytes or first line.
    static func refuseOtherFormats(_ body: ArraySlice<UInt8>, file: String) throws(DataError) {
        func fail(_ what: String, _ builder: String) -> DataError {
            DataError(.unsupportedFormat, RecordLocation(file: file, position: .wholeFile), "this is \(what). " + conversionHint(builder))
        }
        if body.starts(with: Array("PAR1".utf8)) { throw fail("a Parquet file", "'parquet', data_files='\(file)'") }
        if body.starts(with: Array("ARROW1".utf8)) { throw fail("an Arrow/Feather file", "'arrow', data_files='\(file)'") }
        if body.count >= 8, body.dropFirst(4).starts(with: [0xFF, 0xFF, 0xFF, 0xFF]) || body.starts(with: [0xFF, 0xFF, 0xFF, 0xFF]) {
            throw fail("an Arrow stream", "'arrow', data_files='\(file)'")
        }
        // A CSV's first line is a header of column names, not a JSON value.
        guard let first = body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }),
            first != UInt8(ascii: "{"), first != UInt8(ascii: "[")
        else { return }
        let line = String(decoding: body.prefix(4096).prefix { $0 != 0x0A }, as: UTF8.self)
        let columns = line.contains("\t") ? line.split(separator: "\t") : line.split(separator: ",")
        if columns.count >= 2,
            columns.contains(where: {
                ["chosen", "rejected", "prompt", "completion", "label"].contains($0.trimmingCharacters(in: .init(charactersIn: " \"'\r")))
            })
        {
            throw fail(
                line.contains("\t") ? "a TSV file" : "a CSV file", "'csv', data_files='\(file)'" + (line.contains("\t") ? ", delimiter='\\t'" : ""))
        }
    }
}
