// An append-only file written with POSIX write(2): every byte is written or a ReportFileError says why
// (a full disk included), where Foundation's FileHandle.write would trap. Metrics and event logs use it.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure to open or write a report file: one line naming the file and the system's reason.
public struct ReportFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let what: String

    public init(path: String, what: String) {
        self.path = path
        self.what = what
    }

    public var description: String { "\(path): \(what)" }

    /// The C library's words for `code`, with a hint for the failures a user can fix.
    static func reason(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        switch code {
        case ENOSPC: return text + " (the disk is full: free some space, then resume the run)"
        case EDQUOT: return text + " (the disk quota is exhausted)"
        default: return text
        }
    }
}

/// A file opened for appending (O_APPEND: each write lands at the end, even if another writer appended).
/// Lines are written whole with one call when the kernel allows, and retried on EINTR and short writes.
public final class AppendFile {
    public let path: String
    private var fd: Int32

    /// Opens `path` for appending, creating it (mode 0644) when missing.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ReportFileError(path: path, what: "cannot open for appending: \(ReportFileError.reason(errno))") }
    }

    deinit { close() }

    /// Appends every byte of `bytes`, or throws naming the file and the reason.
    public func write(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw ReportFileError(path: path, what: "write after close") }
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw ReportFileError(path: path, what: "write failed after \(offset) of \(buffer.count) bytes: \(ReportFileError.reason(code))")
                }
                if n == 0 {
                    throw ReportFileError(path: path, what: "write made no progress after \(offset) of \(buffer.count) bytes")
                }
                offset += n
            }
        }
    }

    /// Closes the file; later writes throw.
    public func close() {
        if fd >= 0 {
            #if canImport(Glibc)
                _ = Glibc.close(fd)
            #else
                _ = Darwin.close(fd)
            #endif
            fd = -1
        }
    }
}

private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, p, n)
    #else
        Darwin.write(fd, p, n)
    #endif
}
