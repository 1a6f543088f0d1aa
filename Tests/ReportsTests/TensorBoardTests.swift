// TensorBoard event files: CRC-32C against published vectors, records byte-identical to tensorboard's own
// encoder (golden fixture from tools/reference/gen_tensorboard_fixture.py), and a log read back in full.

import Foundation
import JSON
import Testing

import Reports

@Suite struct TensorBoardTests {
    /// RFC 3720 (iSCSI) appendix B.4 and the classic check value.
    @Test func crc32cKnownVectors() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func recordsEqualTensorBoardsOwn() throws {
        let golden = try JSONValue(JSONReader.parse(Data(contentsOf: URL(fileURLWithPath: fixturePath("tensorboard-golden.json")))))
        #expect(try #require(golden["crc32c_masked_123456789"]?.int) == Int(CRC32C.masked(CRC32C.checksum(Array("123456789".utf8)))))
        let records = try #require(golden["records"]?.array)
        #expect(records.count == 3)
        for record in records {
            let name = try #require(record["name"]?.string)
            let wallTime = try #require(record["wall_time"]?.double)
            let expected = try #require(record["hex"]?.string)
            let event: [UInt8]
            if let row = record["row"], !row.isNull {
                let step = try #require(row["step"]?.int)
                let values = try #require(row["values"]?.array).map { pair -> (tag: String, value: Float) in
                    let v = pair.array?[1]
                    let value: Double = v?.double ?? (v?.string == "inf" ? .infinity : .nan)
                    return (pair.array?[0].string ?? "", Float(value))
                }
                event = TensorBoardEvent.scalars(wallTime: wallTime, step: Int64(step), values)
            } else {
                event = TensorBoardEvent.fileVersion(wallTime: wallTime)
            }
            #expect(hex(TFRecord.frame(event)) == expected, "\(name)")
        }
    }

    @Test func framingCarriesLengthAndMaskedChecksums() throws {
        let data = Array("brain.Event:2".utf8)
        let framed = TFRecord.frame(data)
        #expect(framed.count == 8 + 4 + data.count + 4)
        let records = try readRecords(framed)
        #expect(records == [data])
        // A flipped data byte is caught by the footer checksum.
        var corrupt = framed
        corrupt[14] ^= 1
        #expect(throws: RecordError.self) { try readRecords(corrupt) }
    }

    /// Both logs fed the same rows, as the trainer's event consumer will: every value in the event file
    /// equals metrics.jsonl's as a float32, NaN where the JSON has null.
    @Test func bothLogsFromTheSameRows() throws {
        let dir = try temporaryDirectory()
        var time = 1_765_000_000.0
        let events = try TensorBoardLog(directory: dir) {
            time += 0.5
            return time
        }
        let metrics = try MetricsLog(path: dir + "/metrics.jsonl")
        let rows: [[(String, Double)]] = [
            [("step", 1), ("epoch", 0.01), ("loss", 0.6931471805599453), ("rewards/margins", 0), ("grad_norm", .nan), ("learning_rate", 2e-4)],
            [("eval_loss", 0.7), ("eval_rewards/accuracies", 0.5), ("step", 1), ("epoch", 0.01)],
            [("step", 2), ("epoch", 0.02), ("loss", 0.5), ("rewards/margins", 0.25), ("grad_norm", 1e30), ("learning_rate", 1e-4)],
        ]
        let sinks: [any MetricsSink] = [metrics, events]
        for row in rows {
            for sink in sinks { try sink.write(row) }
        }
        events.close()

        let name = (events.path as NSString).lastPathComponent
        #expect(name.hasPrefix("events.out.tfevents.1765000000."))
        #expect(name.hasSuffix(".\(getpid()).0"))
        let decoded = try readRecords(Array(try Data(contentsOf: URL(fileURLWithPath: events.path)))).map(decodeEvent)
        #expect(decoded.count == 1 + rows.count)
        #expect(decoded[0].fileVersion == "brain.Event:2")
        #expect(decoded[0].wallTime == 1_765_000_000.5)

        let reread = try RunMetrics.read(path: dir + "/metrics.jsonl")
        #expect(reread.rows.count == rows.count)
        for (event, row) in zip(decoded.dropFirst(), reread.rows) {
            #expect(event.step == Int64(row.first { $0.0 == "step" }!.1))
            let expected = row.filter { $0.0 != "step" }
            #expect(event.scalars.map(\.tag) == expected.map(\.0))
            for ((tag, value), (_, json)) in zip(event.scalars, expected) {
                #expect(value.bitPattern == Float(json).bitPattern || (value.isNaN && json.isNaN), "\(tag)")
            }
        }
    }

    @Test func aRowWithoutStepIsRefused() throws {
        let log = try TensorBoardLog(directory: try temporaryDirectory())
        #expect(throws: ReportFileError.self) { try log.write([("loss", 1)]) }
    }
}

// MARK: - A reader for the tests (TFRecord framing and the Event fields we write)

struct RecordError: Error { let what: String }

func readRecords(_ bytes: [UInt8]) throws -> [[UInt8]] {
    func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << ($1 * 8) } }
    var records: [[UInt8]] = []
    var at = 0
    while at < bytes.count {
        guard at + 12 <= bytes.count else { throw RecordError(what: "truncated header at \(at)") }
        let length = Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << ($1 * 8) })
        guard u32(at + 8) == CRC32C.masked(CRC32C.checksum(bytes[at..<at + 8])) else { throw RecordError(what: "length crc at \(at)") }
        guard at + 12 + length + 4 <= bytes.count else { throw RecordError(what: "truncated data at \(at)") }
        let data = Array(bytes[at + 12..<at + 12 + length])
        guard u32(at + 12 + length) == CRC32C.masked(CRC32C.checksum(data)) else { throw RecordError(what: "data crc at \(at)") }
        records.append(data)
        at += 16 + length
    }
    return records
}

struct DecodedEvent {
    var wallTime = 0.0
    var step: Int64 = 0
    var fileVersion: String?
    var scalars: [(tag: String, value: Float)] = []
}

func decodeEvent(_ bytes: [UInt8]) throws -> DecodedEvent {
    var e = DecodedEvent()
    for (field, value) in try protoFields(bytes) {
        switch (field, value) {
        case (1, .fixed64(let v)): e.wallTime = Double(bitPattern: v)
        case (2, .varint(let v)): e.step = Int64(bitPattern: v)
        case (3, .bytes(let b)): e.fileVersion = String(decoding: b, as: UTF8.self)
        case (5, .bytes(let summary)):
            for (_, v) in try protoFields(summary) {
                guard case .bytes(let valueBytes) = v else { throw RecordError(what: "summary value") }
                var tag = ""
                var number = Float.nan
                for (f, x) in try protoFields(valueBytes) {
                    if f == 1, case .bytes(let t) = x { tag = String(decoding: t, as: UTF8.self) }
                    if f == 2, case .fixed32(let bits) = x { number = Float(bitPattern: bits) }
                }
                e.scalars.append((tag, number))
            }
        default: throw RecordError(what: "unexpected field \(field)")
        }
    }
    return e
}

enum ProtoValue {
    case varint(UInt64)
    case fixed64(UInt64)
    case bytes([UInt8])
    case fixed32(UInt32)
}

func protoFields(_ b: [UInt8]) throws -> [(Int, ProtoValue)] {
    var at = 0
    func varint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard at < b.count else { throw RecordError(what: "truncated varint") }
            let byte = b[at]
            at += 1
            v |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return v }
            shift += 7
        }
    }
    func fixed(_ n: Int) throws -> UInt64 {
        guard at + n <= b.count else { throw RecordError(what: "truncated fixed") }
        defer { at += n }
        return (0..<n).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << ($1 * 8) }
    }
    var out: [(Int, ProtoValue)] = []
    while at < b.count {
        let key = try varint()
        switch key & 7 {
        case 0: out.append((Int(key >> 3), .varint(try varint())))
        case 1: out.append((Int(key >> 3), .fixed64(try fixed(8))))
        case 2:
            let n = Int(try varint())
            guard at + n <= b.count else { throw RecordError(what: "truncated bytes") }
            out.append((Int(key >> 3), .bytes(Array(b[at..<at + n]))))
            at += n
        case 5: out.append((Int(key >> 3), .fixed32(UInt32(try fixed(4)))))
        default: throw RecordError(what: "wire type \(key & 7)")
        }
    }
    return out
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
