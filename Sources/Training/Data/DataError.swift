// Errors a user can cause with a preference-data file, each a single line naming the file, the record
// (JSONL line, 1-based, or JSON-array index, 0-based) and the field.

// MARK: - Location

/// Where a record came from: a JSONL line (1-based), a JSON-array element (0-based index), or the whole file.
public struct RecordLocation: Sendable, Hashable, CustomStringConvertible {
    public enum Position: Sendable, Hashable {
        case wholeFile
        case line(Int)
        case index(Int)
    }

    public var file: String
    public var position: Position

    public init(file: String, position: Position) {
        self.file = file
        self.position = position
    }

    /// The record's 1-based line (JSONL) or its index in a JSON array file; 0 for a whole-file problem.
    public var number: Int {
        switch position {
        case .wholeFile: 0
        case .line(let n): n
        case .index(let i): i
        }
    }

    public var description: String {
        switch position {
        case .wholeFile: file
        case .line(let n): "\(file): line \(n)"
        case .index(let i): "\(file): index \(i)"
        }
    }
}

// MARK: - Error

public struct DataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong; the raw value is the short reason used in summaries ("skipped 3 (malformed JSON: 3)").
    public enum Kind: String, Sendable, Hashable, CaseIterable, Comparable {
        case unreadable = "unreadable file"
        case unsupportedFormat = "unsupported file format"
        case emptyFile = "empty file"
        case noPairs = "no usable pairs"
        case invalidUTF8 = "invalid UTF-8"
        case malformedJSON = "malformed JSON"
        case notAnObject = "record not an object"
        case missingField = "missing field"
        case wrongType = "wrong type"
        case badMessage = "wrong message shape"
        case nonStringContent = "non-string content"
        case emptyCompletion = "empty chosen/rejected"
        case identicalCompletions = "chosen == rejected"
        case toolCalls = "tool calls"
        case chatTemplate = "chat template"
        case tokenizer = "tokenizer"

        public static func < (a: Kind, b: Kind) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }

        /// Whether `skipInvalid` may skip a record with this error (file-level problems are always fatal).
        public var isPerRecord: Bool {
            switch self {
            case .unreadable, .unsupportedFormat, .emptyFile, .noPairs: false
            default: true
            }
        }
    }

    public var kind: Kind
    public var location: RecordLocation
    /// The offending field, e.g. `chosen`, `prompt[1].content`; nil for whole-record or whole-file problems.
    public var field: String?
    public var message: String

    public init(_ kind: Kind, _ location: RecordLocation, field: String? = nil, _ message: String) {
        self.kind = kind
        self.location = location
        self.field = field
        self.message = message
    }

    public var description: String {
        if let field { return "\(location): field '\(field)': \(message)" }
        return "\(location): \(message)"
    }
}
