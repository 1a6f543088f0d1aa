// A read-only memory mapping of a whole file and a bounds-checked little-endian cursor over it.
// Every read through `ByteReader` is checked, so a malformed file can only produce an error.

import Foundation
import TensorFile

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Mapping

final class MappedFile: @unchecked Sendable {
    let path: String
    let size: Int
    private let base: UnsafeMutableRawPointer?

    init(path: String) throws {
        self.path = path
        // O_NONBLOCK: a FIFO must not block the open; it is refused just below.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw ModelFileError(.io, path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelFileError(.io, path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ModelFileError(.io, path, "is \(fileKind(st.st_mode)), not a regular file") }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        guard let m = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), m != MAP_FAILED else {
            throw ModelFileError(.io, path, "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = m
    }

    deinit {
        if let base { munmap(base, size) }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// Drops the pages of [offset, offset+length) from this process (they stay in the page cache), so
    /// streaming a large file tensor by tensor does not grow the resident set.
    func release(offset: Int, length: Int) {
        guard let base, length > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        let end = min(size, offset + length)
        guard end > start else { return }
        _ = madvise(base + start, end - start, MADV_DONTNEED)
    }
}

// MARK: - Cursor

struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    /// Throws unless `count` more bytes are available; `what` names the field for the message.
    func need(_ count: UInt64, _ what: String) throws {
        guard count <= UInt64(remaining) else {
            throw ModelFileError(
                .truncated, path, "file ends inside \(what): needs \(count) bytes, \(remaining) left",
                at: "byte \(offset)")
        }
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        try need(UInt64(MemoryLayout<T>.size), what)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func u8(_ what: String) throws -> UInt8 { try load(UInt8.self, what) }
    mutating func u32(_ what: String) throws -> UInt32 { try load(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try load(UInt64.self, what) }

    /// A slice of `count` bytes, advancing past it.
    mutating func slice(_ count: UInt64, _ what: String) throws -> UnsafeRawBufferPointer {
        try need(count, what)
        let s = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(count))])
        offset += Int(count)
        return s
    }
}

// MARK: - Whole-file checksum

/// XXH64 of a file's bytes, read in chunks (not mapped, so it adds nothing to the resident set).
func fileXXH64(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ModelFileError(.io, path, "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var h = XXHash64()
    let chunk = 4 << 20
    let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
    defer { buf.deallocate() }
    while true {
        let n = read(fd, buf, chunk)
        if n < 0 {
            if errno == EINTR { continue }
            throw ModelFileError(.io, path, "read failed: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        h.update(UnsafeRawBufferPointer(start: buf, count: n))
    }
    return XXHash64.hex(h.finalize())
}
