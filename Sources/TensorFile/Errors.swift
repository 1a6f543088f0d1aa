// Errors a user can cause with a bad or foreign tensor file. Each prints as one line naming the file.

public enum TensorFileError: Error, CustomStringConvertible, Sendable {
    case io(path: String, what: String)
    case badMagic(path: String)
    case unsupportedVersion(path: String, found: UInt32)
    case truncated(path: String, expected: UInt64, actual: UInt64)
    case badHeader(path: String, what: String)
    case headerChecksum(path: String)
    case badTensor(path: String, tensor: String, what: String)
    case missingTensor(path: String, tensor: String)
    case checksumMismatch(path: String, tensor: String)
    case noSuchTensor(path: String, tensor: String)
    case writer(path: String, what: String)

    /// One line of sensible length: a crafted file can make a detail (a shape, a JSON excerpt) huge.
    public var description: String {
        let full = fullDescription
        guard full.count > 400 else { return full }
        return String(full.prefix(400)) + "… (\(full.count) characters)"
    }

    var fullDescription: String {
        switch self {
        case .io(let p, let w): "\(p): \(w)"
        case .badMagic(let p): "\(p): not an MTF file (bad magic at byte 0)"
        case .unsupportedVersion(let p, let v):
            "\(p): MTF version \(v) is not supported (this build reads version \(MTF.version)); HINT: upgrade leandpo"
        case .truncated(let p, let e, let a): "\(p): truncated: expected \(e) bytes, file has \(a)"
        case .badHeader(let p, let w): "\(p): bad header: \(w)"
        case .headerChecksum(let p): "\(p): header checksum mismatch (bytes 64..): the file is corrupted"
        case .badTensor(let p, let t, let w): "\(p): tensor \(t): \(w)"
        case .missingTensor(let p, let t): "\(p): required tensor \(t) is missing"
        case .checksumMismatch(let p, let t): "\(p): tensor \(t): checksum mismatch, the data is corrupted"
        case .noSuchTensor(let p, let t): "\(p): no tensor named \(t)"
        case .writer(let p, let w): "\(p): \(w)"
        }
    }
}
