// TensorBoard event files (events.out.tfevents.<time>.<host>.<pid>.0) written by hand: TFRecord framing
// around Event protobufs holding scalar summaries. No TensorFlow or protobuf library is needed.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Appends one Event per call (the row's `step` as its step, every other key a scalar of the same name) to
/// a new event file in a run directory; TensorBoard reads it live.
public final class TensorBoardLog: MetricsSink {
    public let path: String
    private let file: AppendFile
    private let clock: () -> Double

    /// Creates the event file in `directory` and writes its first event (file_version "brain.Event:2").
    /// `clock` gives the wall time in seconds since 1970 (tests fix it).
    public init(directory: String, clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.clock = clock
        let now = clock()
        path = directory + "/" + Self.fileName(time: now)
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ReportFileError(path: path, what: "already exists (another writer in this process in the same second?)")
        }
        file = try AppendFile(path: path)
        try file.write(TFRecord.frame(TensorBoardEvent.fileVersion(wallTime: now)))
    }

    /// TensorFlow's name: events.out.tfevents.<seconds>.<hostname>.<pid>.0
    static func fileName(time: Double) -> String {
        var host = [UInt8](repeating: 0, count: 256)
        let ok = host.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count - 1) == 0 }
        }
        let name = ok ? String(decoding: host.prefix { $0 != 0 }, as: UTF8.self) : "localhost"
        return "events.out.tfevents.\(Int(time)).\(name).\(getpid()).0"
    }

    /// Writes one row as one Event; a row without a finite `step` is refused.
    public func write(_ values: [(String, Double)]) throws {
        guard let step = values.first(where: { $0.0 == "step" })?.1, step.isFinite, abs(step) < 9.0e18 else {
            throw ReportFileError(path: path, what: "a TensorBoard row needs a finite \"step\" (got keys \(values.map(\.0)))")
        }
        let scalars = values.filter { $0.0 != "step" }.map { (tag: $0.0, value: Float($0.1)) }
        try file.write(TFRecord.frame(TensorBoardEvent.scalars(wallTime: clock(), step: Int64(step), scalars)))
    }

    public func close() { file.close() }
}

// MARK: - TFRecord framing

/// One record: uint64 length (little-endian), masked CRC-32C of those 8 bytes, the data, masked CRC-32C
/// of the data (tensorflow/core/lib/io/record_writer.cc).
public enum TFRecord {
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndian(UInt64(data.count))
        out += length
        out += littleEndian(CRC32C.masked(CRC32C.checksum(length)))
        out += data
        out += littleEndian(CRC32C.masked(CRC32C.checksum(data)))
        return out
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) }
    }
}

// MARK: - Event protobuf

/// The few fields of tensorflow/core/util/event.proto and framework/summary.proto a scalar log needs:
/// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
/// Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
public enum TensorBoardEvent {
    public static func fileVersion(wallTime: Double) -> [UInt8] {
        var w = ProtoWriter()
        w.double(field: 1, wallTime)
        w.bytes(field: 3, Array("brain.Event:2".utf8))
        return w.bytes
    }

    public static func scalars(wallTime: Double, step: Int64, _ scalars: [(tag: String, value: Float)]) -> [UInt8] {
        var summary = ProtoWriter()
        for (tag, value) in scalars {
            var v = ProtoWriter()
            v.bytes(field: 1, Array(tag.utf8))
            v.float(field: 2, value)
            summary.bytes(field: 1, v.bytes)
        }
        var w = ProtoWriter()
        w.double(field: 1, wallTime)
        w.varint(field: 2, UInt64(bitPattern: step))
        w.bytes(field: 5, summary.bytes)
        return w.bytes
    }
}

/// Protocol-buffer wire format for the four field kinds used above.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func key(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }

    private mutating func rawVarint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(field: Int, _ v: UInt64) {
        key(field, 0)
        rawVarint(v)
    }

    mutating func double(field: Int, _ v: Double) {
        key(field, 1)
        bytes += TFRecord.littleEndian(v.bitPattern)
    }

    mutating func bytes(field: Int, _ data: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(data.count))
        bytes += data
    }

    mutating func float(field: Int, _ v: Float) {
        key(field, 5)
        bytes += TFRecord.littleEndian(v.bitPattern)
    }
}
