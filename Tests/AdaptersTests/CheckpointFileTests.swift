// The checkpoint container: exact round trip, atomic replacement, and refusals of damaged files.

import Adapters
import Foundation
import TestSupport
import Testing

struct DemoState: Codable, Equatable {
    var step: Int
    var fingerprint: String
}

func demoTensors() -> [CheckpointTensor] {
    [
        CheckpointTensor(name: "a", shape: [3, 4], values: (0..<12).map { Float($0) * 0.37 - 1 }),
        CheckpointTensor(name: "b", shape: [5], values: [.pi, -0, .leastNonzeroMagnitude, 1e30, -7]),
        CheckpointTensor(name: "empty", shape: [0], values: []),
    ]
}

@Test func checkpointRoundTripIsBitExact() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/c.ckpt"
    let info = try CheckpointFile.write(path: path, state: DemoState(step: 7, fingerprint: "abc"), tensors: demoTensors())
    #expect(info.rawBytes > 0 && info.compressedBytes > 0)
    #expect(CheckpointFile.looksLikeCheckpoint(path))
    let (state, tensors, read) = try CheckpointFile.read(path: path, as: DemoState.self)
    #expect(state == DemoState(step: 7, fingerprint: "abc"))
    #expect(read.rawBytes == info.rawBytes)
    for t in demoTensors() {
        let got = try #require(tensors[t.name])
        #expect(got.shape == t.shape)
        #expect(got.values.map(\.bitPattern) == t.values.map(\.bitPattern), "\(t.name) bit for bit")
    }
}

@Test func checkpointRefusesDamage() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/c.ckpt"
    try CheckpointFile.write(path: path, state: DemoState(step: 1, fingerprint: "x"), tensors: demoTensors())
    let good = [UInt8](FileManager.default.contents(atPath: path)!)

    func error(_ corrupt: (inout [UInt8]) -> Void) -> String {
        var b = good
        corrupt(&b)
        _ = FileManager.default.createFile(atPath: path, contents: Data(b))
        do {
            _ = try CheckpointFile.read(path: path, as: DemoState.self)
            return "read"
        } catch {
            let s = "\(error)"
            #expect(s.contains(path) && !s.contains("\n"), "one line naming the file: \(s)")
            return s
        }
    }
    #expect(error { $0.removeLast(10) }.contains("truncated"))
    #expect(error { $0 = Array($0[0..<20]) }.contains("truncated"))
    #expect(error { $0[0] = 0 }.contains("bad magic"))
    #expect(error { $0[8] = UInt8(CheckpointFile.version + 1) }.contains("newer"))
    #expect(error { $0[8] = 1 }.contains("older leandpo"))
    #expect(error { $0[$0.count - 3] ^= 0x10 }.contains("checksum"))
    #expect(error { $0 += [1] }.contains("trailing"))
    #expect(throws: CheckpointError.self) { try CheckpointFile.read(path: dir + "/missing", as: DemoState.self) }
}

@Test func zstdDetectsCorruptionInsideTheFrame() throws {
    let input = [UInt8]((0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7 / 13) })
    var frame = try Zstd.compress(input)
    #expect(try Zstd.decompress(frame, expectedSize: input.count) == input)
    #expect(throws: ZstdError.self) { try Zstd.decompress(frame, expectedSize: input.count + 1) }
    frame[frame.count - 2] ^= 0xFF  // inside the content checksum
    #expect(throws: ZstdError.self) { try Zstd.decompress(frame, expectedSize: input.count) }
    #expect(throws: ZstdError.self) { try Zstd.decompress(Array(frame.prefix(frame.count / 2)), expectedSize: input.count) }
}
