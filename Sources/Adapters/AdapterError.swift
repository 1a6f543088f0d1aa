// The one error type of the Adapters module: a file, key or tensor a user gave that cannot be used, as one
// line "<path>: <what>" (path empty for a problem with the request itself, such as two flags that clash).

public struct AdapterError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file or directory at fault; empty when the request itself is at fault.
    public let path: String
    public let what: String

    public init(_ path: String, _ what: String) {
        self.path = path
        self.what = what
    }

    /// A problem with the request (options), not with a file.
    public static func request(_ what: String) -> AdapterError { AdapterError("", what) }

    public var description: String { path.isEmpty ? what : "\(path): \(what)" }
}
