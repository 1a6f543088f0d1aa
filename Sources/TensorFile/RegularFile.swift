// Reading a whole input file with errors in words: a directory, a FIFO, a device or a missing file is
// named as such (never Foundation's error dump), and a FIFO cannot block the open.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum RegularFile {
    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The whole contents of the regular file at `path`; anything else throws one line saying what it is.
    public static func read(_ path: String) throws(ReadError) -> [UInt8] {
        try read(path, upTo: nil)
    }

    /// At most the first `count` bytes of the regular file at `path` (a magic-number sniff).
    public static func readPrefix(_ path: String, count: Int) throws(ReadError) -> [UInt8] {
        try read(path, upTo: count)
    }

    private static func read(_ path: String, upTo limit: Int?) throws(ReadError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ReadError(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ReadError(path: path, reason: "is \(fileKind(st.st_mode)), not a regular file") }
        var out = [UInt8](repeating: 0, count: min(Int(st.st_size), limit ?? Int.max))
        var done = 0
        while done < out.count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw ReadError(path: path, reason: "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }  // shrank while reading
            done += n
        }
        out.removeLast(out.count - done)
        return out
    }
}

/// "a directory", "a FIFO (named pipe)", … for an error naming what a path is instead of a regular file.
public func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: "a regular file"
    case S_IFDIR: "a directory"
    case S_IFIFO: "a FIFO (named pipe)"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    case S_IFLNK: "a symbolic link"
    default: "not a regular file"
    }
}
