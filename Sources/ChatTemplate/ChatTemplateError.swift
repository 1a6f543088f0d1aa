// The one error a chat template raises, at parse or render time: a kind, the template line, and a message.

public struct ChatTemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The template text is not valid Jinja.
        case syntax
        /// Valid Jinja that this renderer does not implement (a tag, filter, test, method or function).
        case unsupported
        /// Rendering failed the way jinja2 would fail (undefined attribute, type error, bad argument…).
        case runtime
        /// The template called `raise_exception(message)`; `message` is the template's own text.
        case raised
        /// Rendering went over its budget (RenderLimits): too many steps, too large a string, list or output.
        case limit
    }

    public let kind: Kind
    /// 1-based line of the template source.
    public let line: Int
    public let message: String
    /// Where the template came from (a file path or model name), when the caller said.
    public var template: String?

    public init(_ kind: Kind, line: Int, _ message: String, template: String? = nil) {
        self.kind = kind
        self.line = line
        self.message = message
        self.template = template
    }

    public var description: String {
        let oneLine = message.replacingNewlines()
        guard let template else { return "chat template line \(line): \(oneLine)" }
        return "chat template of \(template), line \(line): \(oneLine)"
    }
}

/// A failure raised below the expression level, before the renderer knows the line; the renderer attaches it.
struct TemplateFailure: Error {
    var kind: ChatTemplateError.Kind
    var message: String

    init(_ kind: ChatTemplateError.Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    init(_ message: String) {
        self.kind = .runtime
        self.message = message
    }

    static func unsupported(_ message: String) -> TemplateFailure { TemplateFailure(.unsupported, message) }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        var out = ""
        for c in unicodeScalars {
            switch c {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
