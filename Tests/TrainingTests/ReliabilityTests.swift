// Issue 13's recipes against the training layer: checkpoint memory bombs and overflowing manifests,
// reference-cache entries that are short or were filled from a damaged copy of the base, and an
// --init-adapter whose shape differs from --lora-*.

import Adapters
import Foundation
import Model
import TensorFile
import TestSupport
import Testing
import Training

// MARK: - Crafted checkpoints

/// The smallest state a checkpoint container carries, for reading crafted files.
private struct CraftedState: Codable, Equatable {
    var step: Int
    var fingerprint: String
}

/// A checkpoint file around `payload` (a zstd frame) with the prefix's lengths and checksum filled in.
func craftedCheckpoint(payload: [UInt8], rawLength: UInt64, manifestLength: UInt64) -> [UInt8] {
    var b = CheckpointFile.magic
    func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
    put(CheckpointFile.version)
    put(UInt32(0))
    put(UInt64(payload.count))
    put(rawLength)
    put(payload.withUnsafeBytes { XXHash64.hash($0) })
    put(manifestLength)
    put(UInt64(0))
    put(UInt64(0))
    return b + payload
}

func checkpointError(_ bytes: [UInt8]) throws -> String {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/checkpoint-1"
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    do {
        _ = try CheckpointFile.read(path: path, as: CraftedState.self)
        return "read"
    } catch {
        let s = "\(error)"
        #expect(s.contains(path) && !s.contains("\n"), "one line naming the file: \(s)")
        return s
    }
}

@Test(arguments: [UInt64(16) << 30, UInt64(1) << 40])
func aFrameDeclaringHugeContentIsRefusedBeforeAllocating(declared: UInt64) throws {
    // Recipe (86-byte file): a frame header declaring 16 GiB or 1 TiB of content (single segment, 8-byte
    // content size) and one empty last block; the prefix's raw length agrees. Used to zero-fill it all.
    var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0xE0]
    withUnsafeBytes(of: declared.littleEndian) { frame += $0 }
    frame += [0x01, 0x00, 0x00]
    let text = try checkpointError(craftedCheckpoint(payload: frame, rawLength: declared, manifestLength: 2))
    #expect(text.contains("more than zstd can hold"), "\(text)")
}

@Test func manifestSizesNear2To62AreRefusedWithCheckedArithmetic() throws {
    func error(_ tensors: String) throws -> String {
        let manifest = Array(#"{"state":{"step":1,"fingerprint":"x"},"tensors":\#(tensors)}"#.utf8)
        let raw = manifest + [UInt8](repeating: 0, count: (manifest.count + 63) / 64 * 64 - manifest.count + 16)
        return try checkpointError(
            craftedCheckpoint(payload: try Zstd.compress(raw), rawLength: UInt64(raw.count), manifestLength: UInt64(manifest.count)))
    }
    let huge = 1 << 62
    #expect(try error(#"[{"name":"a","shape":[\#(huge)],"offset":0,"count":\#(huge)}]"#).contains("tensor a lies outside the payload"))
    #expect(try error(#"[{"name":"a","shape":[\#(huge),4],"offset":0,"count":4}]"#).contains("tensor a lies outside the payload"))
    #expect(try error(#"[{"name":"a","shape":[2],"offset":0,"count":2}]"#).contains("the tensors hold 8 bytes"))
    #expect(try error(#"[{"name":"a","shape":[4],"offset":0,"count":4}]"#) == "read")
}

// MARK: - Reference cache

@Test func aCacheEntryWithUnequalArraysIsAMiss() throws {
    TrainerFixture.isolateCache
    let key = "test-unequal-\(UInt32.random(in: 0...UInt32.max))"
    // Recipe: an entry whose tail arrays are shorter than its chosen/rejected arrays.
    let entry = #"{"key":"\#(key)","logps":{"chosen":[-1,-2],"rejected":[-3,-4],"chosenTail":[0],"rejectedTail":[0,0]}}"#
    try FileManager.default.createDirectory(atPath: ReferenceCache.directory, withIntermediateDirectories: true)
    try Data(entry.utf8).write(to: URL(fileURLWithPath: ReferenceCache.directory + "/\(key).json"))
    #expect(ReferenceCache.load(key: key, count: 2) == nil)
    let good = ReferenceLogps(chosen: [-1, -2], rejected: [-3, -4], chosenTail: [0, 0], rejectedTail: [0, 0])
    ReferenceCache.store(good, key: key)
    #expect(ReferenceCache.load(key: key, count: 2) == good)
    #expect(ReferenceCache.load(key: key, count: 3) == nil)
}

extension TrainerTests {
    @Test func aDamagedCopyOfTheBaseCannotPoisonTheReferenceCache() throws {
        let f = try TrainerFixture()
        // Recipe: a copy of the base with one weight byte changed and the header untouched (same fingerprint).
        let copy = f.directory + "/copy.mtf"
        var bytes = [UInt8](FileManager.default.contents(atPath: f.modelPath)!)
        bytes[bytes.count - 7] ^= 0x40
        _ = FileManager.default.createFile(atPath: copy, contents: Data(bytes))
        let damaged = try LlamaModel(path: copy, threads: 1)
        #expect(damaged.file.fingerprint == f.model.file.fingerprint)
        var a = f.arguments(maxSteps: 1)
        a.lora.dropout = 0
        let text = errorText { try Trainer(arguments: a, model: damaged, context: ByteToy.context).record() }
        #expect(text?.contains("checksum mismatch") == true, "\(text ?? "no error")")
        // The good file then starts from the exact reference: a fresh adapter's first loss is ln 2.
        let r = try f.trainer(a).record()
        #expect(abs((r.losses.first ?? 0) - log(2.0)) < 1e-9, "\(r.losses)")
    }

    @Test func anInitAdapterTrainsItsOwnShapeAndRecordsIt() throws {
        let f = try TrainerFixture()
        // Recipe: --init-adapter of r 2 on q,v with --lora-r 4 on all targets (the fixture's arguments).
        let initial = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4, targets: [.q, .v]), modelConfig: f.model.config, seed: 3)
        let dir = f.directory + "/init"
        try PEFTAdapter.save(initial, directory: dir, baseModel: "tiny")
        var a = f.arguments(maxSteps: 1)
        a.initAdapter = dir
        let inputs = try TrainerInputs.load(arguments: a, model: f.model, context: ByteToy.context)
        #expect(inputs.overriddenOptions(a).contains("--lora-r 2"))
        let t = try Trainer(arguments: a, model: f.model, inputs: inputs)
        #expect(t.arguments.lora.r == 2 && t.arguments.lora.targets == [.q, .v])
        #expect(t.adapter.rank == 2)
        try t.record()
        let saved = try TrainingCheckpoint.read(path: t.checkpointPath(1))
        #expect(saved.state.arguments.lora.r == 2 && saved.state.lora.r == 2, "the checkpoint records the shape trained")
    }
}
