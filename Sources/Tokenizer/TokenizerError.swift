// Errors a user can cause with bad tokenizer data. Each prints as one line naming the field and value.

public enum TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    case unknownPreTokenizer(String)
    case emptyVocab
    case duplicateToken(token: String, firstId: Int, secondId: Int)
    case badMerge(index: Int, merge: String, reason: String)
    case badAddedToken(index: Int, content: String, reason: String)
    case unknownSpecialToken(field: String, token: String)
    case missingSpecialToken(field: String, neededBy: String)
    case badSentencePiece(String)

    public var description: String {
        switch self {
        case .unknownPreTokenizer(let name):
            "tokenizer.pre_tokenizer: unknown pre-tokenizer \(quoted(name)) (known: "
                + PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .emptyVocab:
            "tokenizer.vocab is empty"
        case .duplicateToken(let token, let first, let second):
            "tokenizer.vocab[\(second)]: token \(quoted(token)) is already id \(first)"
        case .badMerge(let index, let merge, let reason):
            "tokenizer.merges[\(index)] \(quoted(merge)): \(reason)"
        case .badAddedToken(let index, let content, let reason):
            "tokenizer.added_tokens[\(index)] \(quoted(content)): \(reason)"
        case .unknownSpecialToken(let field, let token):
            "tokenizer.\(field): token \(quoted(token)) is not in the vocab"
        case .missingSpecialToken(let field, let neededBy):
            "tokenizer.\(field) is missing but \(neededBy) is true"
        case .badSentencePiece(let what):
            "tokenizer.sentencepiece: \(what)"
        }
    }
}

/// A token in double quotes with control characters escaped, so an error stays on one line.
func quoted(_ token: String) -> String {
    var out = "\""
    for scalar in token.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            let category = scalar.properties.generalCategory
            if scalar.value < 0x20 || scalar.value == 0x7F || category == .lineSeparator
                || category == .paragraphSeparator
            {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
