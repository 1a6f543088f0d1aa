// Crash-safe file replacement: write to a temporary sibling, fsync it, rename over the target, fsync the
// directory. Whatever existed at the target survives any failure before the rename.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32
    private var committed = false
    public private(set) var bytesWritten: UInt64 = 0

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        temporaryPath = (dir.isEmpty ? "" : dir + "/") + ".\(name).tmp-\(getpid())"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TensorFileError.writer(path: path, what: "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
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
    static let faultAfterBytes: UInt64? = ProcessInfo.processInfo.environment["LEANDPO_FAULT_WRITE_AFTER_BYTES"].flatMap { UInt64($0) }

    /// fsync, rename over the target, fsync the directory.
    public func commit() throws {
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
