// The one place that talks to libzstd: whole-buffer compression with the frame checksum on, and
// decompression that checks the frame is complete, uncorrupted and exactly the expected size (whole, or
// streamed into the caller's buffers so nothing is allocated for content the frame merely declares).

import CZstd

public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

public enum Zstd {
    /// Compresses `input` into one frame with its content size and XXH64 content checksum recorded.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) throws -> [UInt8] {
        guard let cctx = ZSTD_createCCtx() else { throw ZstdError(description: "zstd: cannot create a context") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { dst in
            ZSTD_compress2(cctx, dst.baseAddress, bound, input.baseAddress, input.count)
        }
        if ZSTD_isError(n) != 0 { throw ZstdError(description: "zstd: " + String(cString: ZSTD_getErrorName(n))) }
        out.removeLast(bound - n)
        return out
    }

    /// Decompresses one frame that must hold exactly `expectedSize` bytes; a truncated or corrupted
    /// frame (the content checksum catches flipped bits) throws.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        // ZSTD_CONTENTSIZE_UNKNOWN / ZSTD_CONTENTSIZE_ERROR are the two largest UInt64 values.
        guard declared < UInt64.max - 1 else { throw ZstdError(description: "zstd: not a complete frame") }
        guard declared == UInt64(expectedSize) else {
            throw ZstdError(description: "zstd: frame holds \(declared) bytes, expected \(expectedSize)")
        }
        guard let dctx = ZSTD_createDCtx() else { throw ZstdError(description: "zstd: cannot create a context") }
        defer { ZSTD_freeDCtx(dctx) }
        var out = [UInt8](repeating: 0, count: expectedSize)
        let n = out.withUnsafeMutableBytes { dst in
            ZSTD_decompressDCtx(dctx, dst.baseAddress, expectedSize, input.baseAddress, input.count)
        }
        if ZSTD_isError(n) != 0 { throw ZstdError(description: "zstd: " + String(cString: ZSTD_getErrorName(n))) }
        guard n == expectedSize else { throw ZstdError(description: "zstd: got \(n) bytes, expected \(expectedSize)") }
        return out
    }

    public static func compress(_ input: [UInt8], level: Int32 = 3) throws -> [UInt8] {
        try input.withUnsafeBytes { try compress($0, level: level) }
    }

    public static func decompress(_ input: [UInt8], expectedSize: Int) throws -> [UInt8] {
        try input.withUnsafeBytes { try decompress($0, expectedSize: expectedSize) }
    }
}

/// Streaming compression into one frame (content size pledged up front, checksum on), so a large
/// payload never sits in memory twice: bytes go in, compressed chunks come out to `sink`.
public final class ZstdCompressor {
    private let cctx: OpaquePointer
    private var output: [UInt8]
    private let sink: (UnsafeRawBufferPointer) throws -> Void

    public init(level: Int32 = 3, pledgedSize: Int, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let c = ZSTD_createCCtx() else { throw ZstdError(description: "zstd: cannot create a context") }
        cctx = c
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)
        ZSTD_CCtx_setPledgedSrcSize(c, UInt64(pledgedSize))
        output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        self.sink = sink
    }

    deinit { ZSTD_freeCCtx(cctx) }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var input = ZSTD_inBuffer(src: bytes.baseAddress, size: bytes.count, pos: 0)
        while input.pos < input.size { try drive(&input, ZSTD_e_continue) }
    }

    /// Ends the frame; throws if fewer or more bytes than pledged were written.
    public func finish() throws {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try drive(&input, ZSTD_e_end) != 0 {}
    }

    /// One compression call; returns zstd's "bytes still to flush" hint.
    @discardableResult
    private func drive(_ input: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective) throws -> Int {
        let capacity = output.count
        return try output.withUnsafeMutableBytes { out in
            var o = ZSTD_outBuffer(dst: out.baseAddress, size: capacity, pos: 0)
            let r = ZSTD_compressStream2(cctx, &o, &input, mode)
            if ZSTD_isError(r) != 0 { throw ZstdError(description: "zstd: " + String(cString: ZSTD_getErrorName(r))) }
            if o.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: out[0..<o.pos])) }
            return r
        }
    }
}

/// Streaming decompression of one frame held in memory: `read(into:)` fills the caller's buffer with the
/// next bytes of content, `finish()` checks the frame ends there (and its content checksum). Memory is
/// zstd's window only, whatever size the frame declares.
public final class ZstdDecompressor {
    /// zstd cannot expand more than this: each block (at most 128 KiB of content) costs at least 4 bytes.
    public static let maxRatio: UInt64 = 32768

    private let dctx: OpaquePointer
    private var input: ZSTD_inBuffer
    private var frameEnded = false

    public init(_ frame: UnsafeRawBufferPointer) throws {
        guard let d = ZSTD_createDCtx() else { throw ZstdError(description: "zstd: cannot create a context") }
        dctx = d
        input = ZSTD_inBuffer(src: frame.baseAddress, size: frame.count, pos: 0)
    }

    deinit { ZSTD_freeDCtx(dctx) }

    /// The content size the frame's header declares (nil when absent or not a frame).
    public static func declaredSize(_ frame: UnsafeRawBufferPointer) -> UInt64? {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        // ZSTD_CONTENTSIZE_UNKNOWN / ZSTD_CONTENTSIZE_ERROR are the two largest UInt64 values.
        return declared < UInt64.max - 1 ? declared : nil
    }

    /// Fills `buffer` completely with the next content bytes, or throws if the frame ends or is corrupt.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws {
        var out = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
        while out.pos < out.size {
            if frameEnded { throw ZstdError(description: "zstd: the frame ends before its content does") }
            let before = (input.pos, out.pos)
            let r = ZSTD_decompressStream(dctx, &out, &input)
            if ZSTD_isError(r) != 0 { throw ZstdError(description: "zstd: " + String(cString: ZSTD_getErrorName(r))) }
            if r == 0 { frameEnded = true }
            if before == (input.pos, out.pos), !frameEnded, input.pos == input.size {
                throw ZstdError(description: "zstd: the frame is truncated")
            }
        }
    }

    /// Checks the frame ends exactly here (zstd verifies its content checksum at the end).
    public func finish() throws {
        var byte: UInt8 = 0
        while !frameEnded {
            let before = input.pos
            let (r, produced) = withUnsafeMutablePointer(to: &byte) { p in
                var out = ZSTD_outBuffer(dst: p, size: 1, pos: 0)
                let r = ZSTD_decompressStream(dctx, &out, &input)
                return (r, out.pos)
            }
            if ZSTD_isError(r) != 0 { throw ZstdError(description: "zstd: " + String(cString: ZSTD_getErrorName(r))) }
            if produced > 0 { throw ZstdError(description: "zstd: the frame holds more content than declared") }
            if r == 0 {
                frameEnded = true
            } else if before == input.pos, input.pos == input.size {
                throw ZstdError(description: "zstd: the frame is truncated")
            }
        }
        guard input.pos == input.size else { throw ZstdError(description: "zstd: \(input.size - input.pos) bytes after the frame") }
    }
}
