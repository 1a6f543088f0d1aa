// Crash-safe file replacement: write to a temporary sibling, fsync it, rename over the target, fsync the
// directory. Whatever existed at the target survives any failure before the rename. Temporary siblings
// (files and directories) are created exclusively under unpredictable names, never through a symlink.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32
    private var committed = false
    /// The mode the committed file gets: the replaced file's, else 0644 less the umask.
    private let finalMode: mode_t
    public private(set) var bytesWritten: UInt64 = 0

    public init(path: String) throws {
        self.path = path
        finalMode = TemporarySibling.modeForReplacing(path, defaultMode: 0o644)
        (temporaryPath, fd) = try TemporarySibling.createFile(beside: path)
    }

    deinit {
        if !committed {
            if fd >= 0 { close(fd) }
            unlink(temporaryPath)
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var p = bytes.baseAddress
        var left = bytes.count
        var full = false
        if let limit = Self.faultAfterBytes, bytesWritten + UInt64(left) > limit {
            left = Int(limit - min(limit, bytesWritten))
            full = true
        }
        while left > 0, let q = p {
            let n = Glibc.write(fd, q, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorFileError.writer(path: path, what: "write failed: \(String(cString: strerror(errno)))")
            }
            p = q + n
            left -= n
            bytesWritten += UInt64(n)
        }
        if full { throw TensorFileError.writer(path: path, what: "write failed: \(String(cString: strerror(ENOSPC)))") }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func writeZeros(_ count: Int) throws {
        if count > 0 { try write([UInt8](repeating: 0, count: count)) }
    }

    /// Overwrites bytes already written at `offset` (used to fill in a header after the data).
    public func patch(_ bytes: [UInt8], at offset: UInt64) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else {
            throw TensorFileError.writer(path: path, what: "write failed: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: - Test seam

    /// LEANDPO_FAULT_WRITE_AFTER_BYTES=N, read once per process: a TEST SEAM that makes every writer behave
    /// like a full disk, writing at most N bytes of its file and then failing with ENOSPC. The CLI tests
    /// use it to show that a failed save leaves every earlier file intact. Unset in normal use.
    public static let faultAfterBytes: UInt64? = ProcessInfo.processInfo.environment["LEANDPO_FAULT_WRITE_AFTER_BYTES"].flatMap {
        UInt64($0)
    }

    /// fsync, rename over the target, fsync the directory.
    public func commit() throws {
        guard fchmod(fd, finalMode) == 0 else {
            throw TensorFileError.writer(path: path, what: "chmod failed: \(String(cString: strerror(errno)))")
        }
        guard fsync(fd) == 0 else { throw TensorFileError.writer(path: path, what: "fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            throw TensorFileError.writer(path: path, what: "rename failed: \(String(cString: strerror(errno)))")
        }
        committed = true
        syncDirectory(of: path)
    }
}

/// fsyncs the directory holding `path` so a rename into it is durable.
public func syncDirectory(of path: String) {
    let dir = (path as NSString).deletingLastPathComponent
    let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY)
    if dfd >= 0 {
        fsync(dfd)
        close(dfd)
    }
}

// MARK: - Temporary siblings

/// Exclusive, unpredictable temporary names beside a target: `.NAME.tmp-XXXXXXXXXXXX` (NAME cut to 200
/// bytes so any legal target name still gives a legal temporary name; 12 random base-32 characters).
/// Created with O_CREAT|O_EXCL|O_NOFOLLOW (mkdir for directories), mode 0600/0700 until committed, so a
/// planted symlink or file at a guessed name is never followed or reused.
public enum TemporarySibling {
    /// A fresh name beside `target` with `tag` (`tmp`, `old`) that does not exist yet.
    public static func name(beside target: String, tag: String = "tmp") -> String {
        let dir = (target as NSString).deletingLastPathComponent
        var base = (target as NSString).lastPathComponent
        while base.utf8.count > 200 { base.removeLast() }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        var rng = SystemRandomNumberGenerator()
        let random = String(decoding: (0..<12).map { _ in alphabet[Int(rng.next() % 32)] }, as: UTF8.self)
        return (dir.isEmpty ? "" : dir + "/") + ".\(base).\(tag)-\(random)"
    }

    /// Creates a new temporary file beside `target`, open for writing. Returns its path and descriptor.
    public static func createFile(beside target: String) throws -> (path: String, fd: Int32) {
        for _ in 0..<100 {
            let candidate = name(beside: target)
            let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { return (candidate, fd) }
            if errno != EEXIST {
                throw TensorFileError.writer(path: target, what: "cannot create a temporary file beside it: \(String(cString: strerror(errno)))")
            }
        }
        throw TensorFileError.writer(path: target, what: "cannot create a temporary file beside it: 100 names taken")
    }

    /// Creates a new temporary directory (mode 0700) beside `target` and returns its path.
    public static func createDirectory(beside target: String) throws -> String {
        for _ in 0..<100 {
            let candidate = name(beside: target)
            if mkdir(candidate, 0o700) == 0 { return candidate }
            if errno != EEXIST {
                throw TensorFileError.writer(
                    path: target, what: "cannot create a temporary directory beside it: \(String(cString: strerror(errno)))")
            }
        }
        throw TensorFileError.writer(path: target, what: "cannot create a temporary directory beside it: 100 names taken")
    }

    /// The permission bits a new file or directory gets: an existing target's, else `defaultMode` less
    /// the process's umask.
    public static func modeForReplacing(_ target: String, defaultMode: mode_t) -> mode_t {
        var st = stat()
        if lstat(target, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG || (st.st_mode & S_IFMT) == S_IFDIR {
            return st.st_mode & 0o777  // permission bits only: never carry set-id bits over
        }
        return defaultMode & ~umaskValue
    }

    /// The umask, read from /proc (umask(2) can only read it by changing it, which races other threads).
    static let umaskValue: mode_t = {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
            let value = mode_t(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8)
        {
            return value
        }
        return 0o022
    }()
}
