// libFuzzer target: a training checkpoint through TrainingCheckpoint.read. The first input byte picks the
// form: even, the rest is a whole checkpoint file as written; odd, the rest is an 8-byte manifest length
// and the decompressed payload, which this target compresses and seals (prefix, checksum) so mutations
// reach the manifest and tensor table instead of stopping at the checksum or the zstd frame.

import FuzzSupport
import Foundation
import TensorFile
import Adapters
import Training

private func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size >= 1, let data else { return 0 }
    let path: String
    if data[0] & 1 == 0 {
        path = FuzzInput.file(data + 1, size - 1, name: "checkpoint.ckpt")
    } else {
        guard size >= 9 else { return 0 }
        var manifestLength: UInt64 = 0
        for i in 0..<8 { manifestLength |= UInt64(data[1 + i]) << (8 * UInt64(i)) }
        let raw = UnsafeRawBufferPointer(start: data + 9, count: size - 9)
        guard let payload = try? Zstd.compress(raw, level: 1) else { return 0 }
        var file = CheckpointFile.magic
        func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { file += $0 } }
        func put64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { file += $0 } }
        put32(CheckpointFile.version)
        put32(0)
        put64(UInt64(payload.count))
        put64(UInt64(raw.count))
        put64(payload.withUnsafeBytes { XXHash64.hash($0) })
        put64(manifestLength)
        put64(0)
        put64(0)
        file += payload
        path = file.withUnsafeBufferPointer { FuzzInput.file($0.baseAddress!, $0.count, name: "checkpoint.ckpt") }
    }
    _ = try? TrainingCheckpoint.read(path: path)
    return 0
}

FuzzDriver.run { data, size in
    fuzzCheckpoint(data, size)
}
