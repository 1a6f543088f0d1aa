// Errors a user can cause with a foreign model file or directory. Each prints as one line,
// "<file>: <what> (<where>)", so the CLI can show it as it is.

public struct ModelFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The file cannot be opened, read or written.
        case io
        /// The file ends before a structure it declares.
        case truncated
        /// The bytes or JSON break the format's rules.
        case malformed
        /// Valid, but something LeanDPO does not handle (a quant type, an architecture, a tokenizer).
        case unsupported
        /// A file, key or tensor the model needs is absent.
        case missing
    }

    public let kind: Kind
    public let path: String
    public let what: String
    /// Where in the file: "byte 24", "tensor info 3", "key tokenizer.ggml.pre", ...
    public let location: String?

    public init(_ kind: Kind, _ path: String, _ what: String, at location: String? = nil) {
        self.kind = kind
        self.path = path
        self.what = what
        self.location = location
    }

    public var description: String {
        "\(path): \(what)" + (location.map { " (\($0))" } ?? "")
    }
}
