// libFuzzer target: a safetensors file (8-byte length, JSON header, data) through SafetensorsFile, then a
// read of every tensor it accepted as floats.

import FuzzSupport
import ModelFiles

private func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "model.safetensors")
    guard let file = try? SafetensorsFile(path: path) else { return 0 }
    for t in file.tensors {
        let count = t.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        guard count >= 0, count <= 1 << 20 else { continue }  // the reader itself does not allocate this
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        defer { buffer.deallocate() }
        try? file.readFloats(t, into: buffer)
    }
    return 0
}

FuzzDriver.run { data, size in
    fuzzSafetensors(data, size)
}
