// An exclusive lock on a directory for the life of the process: flock on `.leandpo-lock` inside it,
// which the kernel releases when the process exits or dies (kill -9 included), so there is nothing stale
// to clean up. The lock file holds the holder's pid, for the refusal message.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class DirectoryLock {
    public static let fileName = ".leandpo-lock"

    public let directory: String
    private let fd: Int32

    public struct Busy: Error, CustomStringConvertible, Sendable {
        public let directory: String
        public let holder: Int32?
        public var description: String {
            "\(directory) is in use by another leandpo run (\(holder.map { "pid \($0)" } ?? "pid unknown")); wait for it to finish or choose another --output"
        }
    }

    /// Takes the lock on an existing `directory`, or throws `Busy` naming the holder's pid at once
    /// (never waits).
    public init(directory: String) throws {
        self.directory = directory
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TensorFileError.io(path: directory, what: "cannot create the lock file \(Self.fileName): \(String(cString: strerror(errno)))")
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let reason = errno
            let holder = Self.readPid(fd)
            close(fd)
            if reason == EWOULDBLOCK { throw Busy(directory: directory, holder: holder) }
            throw TensorFileError.io(path: directory, what: "cannot lock \(Self.fileName): \(String(cString: strerror(reason)))")
        }
        self.fd = fd
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(fd) }

    /// `mkdir -p` with errors in words ("cannot create DIR: Not a directory"), where Foundation's
    /// createDirectory can only say "NSCocoaErrorDomain error 512".
    public static func makeDirectories(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw TensorFileError.io(path: path, what: "is \(fileKind(st.st_mode)), not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path { try makeDirectories(parent) }
        guard mkdir(path, 0o777) == 0 || errno == EEXIST else {
            throw TensorFileError.io(path: path, what: "cannot create the directory: \(String(cString: strerror(errno)))")
        }
    }

    private static func readPid(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
