// TRL's `extract_prompt` (trl/data_utils.py), copied rule for rule: the implicit prompt of a preference pair is
// the common prefix of chosen and rejected, by code point for text and by message for conversations.

// MARK: - Rule

enum PromptExtraction {
    /// The Python loop, including its quirks, over any element type:
    ///
    ///     for idx in range(min(len(chosen), len(rejected))):
    ///         if chosen[idx] != rejected[idx]:
    ///             if chosen[idx - 1] == " ":  # remove space before the prompt
    ///                 idx -= 1
    ///             break
    ///     return chosen[:idx], chosen[idx:], rejected[idx:]
    ///
    /// - When nothing differs within the shorter length, `idx` keeps the loop's last value, `n - 1`, so the
    ///   prompt is one element shorter than the common prefix.
    /// - When the very first element differs, `chosen[idx - 1]` is `chosen[-1]`, the last element; if that is a
    ///   space, `idx` becomes -1 and Python's negative slicing takes effect (prompt = chosen minus its last
    ///   element; completions = the last element of each).
    /// Both inputs must be non-empty (Python raises on an empty one; the loader rejects empty completions first).
    static func split<T: Equatable>(
        chosen: [T], rejected: [T], isSpace: (T) -> Bool
    ) -> (prompt: [T], chosen: [T], rejected: [T]) {
        precondition(!chosen.isEmpty && !rejected.isEmpty, "extract_prompt needs non-empty chosen and rejected")
        let n = min(chosen.count, rejected.count)
        var idx = 0
        for i in 0..<n {
            idx = i
            if chosen[i] != rejected[i] {
                if isSpace(chosen[pythonIndex(i - 1, count: chosen.count)]) { idx -= 1 }
                break
            }
        }
        let promptEnd = pythonSliceBound(idx, count: chosen.count)
        return (
            Array(chosen[..<promptEnd]),
            Array(chosen[promptEnd...]),
            Array(rejected[pythonSliceBound(idx, count: rejected.count)...])
        )
    }

    /// Text: code points (Python `str` indexing), not Swift Characters.
    static func split(chosen: String, rejected: String) -> (prompt: String, chosen: String, rejected: String) {
        let space: Unicode.Scalar = " "
        let parts = split(
            chosen: Array(chosen.unicodeScalars), rejected: Array(rejected.unicodeScalars), isSpace: { $0 == space })
        return (string(parts.prompt), string(parts.chosen), string(parts.rejected))
    }

    /// Conversations: a message never equals the string " ", so only the prefix rule applies.
    static func split(
        chosen: [ChatMessage], rejected: [ChatMessage]
    ) -> (prompt: [ChatMessage], chosen: [ChatMessage], rejected: [ChatMessage]) {
        split(chosen: chosen, rejected: rejected, isSpace: { _ in false })
    }

    // MARK: - Python indexing

    private static func pythonIndex(_ i: Int, count: Int) -> Int { i < 0 ? count + i : i }

    private static func pythonSliceBound(_ i: Int, count: Int) -> Int {
        i < 0 ? max(0, count + i) : min(i, count)
    }

    private static func string(_ scalars: [Unicode.Scalar]) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
