// libFuzzer target: an MTF file (prefix, JSON header, tensor table) through MappedTensorFile, then every
// tensor view and the checksum verification. The first input byte picks the form: bit 0 clear, the rest is
// the file as it is; set, the header checksum (bytes 48..55) is recomputed first, so mutations of the JSON
// header reach the parser instead of stopping at the checksum. Bit 1 asks for the architecture's tensors,
// bit 2 verifies every tensor checksum (slow, so not on every input). Errors are fine; a trap is a finding.

import FuzzSupport
import TensorFile

private func fuzzMTF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size >= 1, let data else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 1, bytes.count >= MTF.prefixSize {
        let headerLength = bytes[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if headerLength <= UInt64(bytes.count - MTF.prefixSize) {
            let end = MTF.prefixSize + Int(headerLength)
            let hash = bytes[MTF.prefixSize..<end].withUnsafeBytes { XXHash64.hash($0) }
            for i in 0..<8 { bytes[48 + i] = UInt8(truncatingIfNeeded: hash >> (8 * UInt64(i))) }
        }
    }
    let path = bytes.withUnsafeBufferPointer { FuzzInput.file($0.baseAddress, $0.count, name: "model.mtf") }
    guard let file = try? MappedTensorFile(path: path, requireArchitectureTensors: data[0] & 2 != 0) else { return 0 }
    for info in file.tensors { _ = file.view(info).rows }
    if data[0] & 4 != 0 { try? file.verify() }
    return 0
}

FuzzDriver.run { data, size in
    fuzzMTF(data, size)
}
